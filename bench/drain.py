"""Can an unpaid flood drain the clue bank or lock anyone out?  (issue: availability)

Starts a real `gate demo` (Redis store, a fresh SQLite bank, GATE_SERVE_LIMIT=1: a clue text is
served once, so every fresh challenge spends clues for good) trusting 127.0.0.1 as its proxy, so
the bench can speak for many client networks through X-Forwarded-For.  Then, at once:

- a **flood**: N unpaid requests for priced pages from 256 /24 networks, as fast as the machine
  allows, never solving;
- an **honest agent** on its own network that asks, solves (an oracle reading the bank's answers
  by clue text stands in for its model), waits for the solve-time floor, and spends its pass;
- a **browser** on another network that asks for the HTML page now and then.

It prints what the flood got (challenges vs re-asks vs throttles), what the honest agent paid
before and during the flood (price, tier, 503s), the browser's 503s, fresh clues left (from the
gate's own metrics), the gate's log bytes per refused request, and the gate's failure counters.

    python bench/drain.py                  # 50,000 flood requests
    python bench/drain.py --requests 5000  # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import free_port, wait_http
from puzzles.bank import text_key

REDIS_DB = 13  # flushed at start: keep it for this bench
HONEST = "192.0.2.10"
BROWSER = "198.51.100.20"


@dataclass
class Phase:
    prices: list[int] = field(default_factory=list)
    tiers: list[int] = field(default_factory=list)
    passes: int = 0
    unavailable: int = 0
    other: dict[int, int] = field(default_factory=dict)


class Oracle:
    """Answers clues by looking their text up in the bank: a stand-in for the honest agent's
    language model (the flood never uses it)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.initials: dict[str, str] = {}

    def reload(self) -> None:
        with sqlite3.connect(self.db) as conn:
            self.initials = dict(conn.execute("SELECT text_key, initial FROM clues"))

    def solve(self, puzzle: dict) -> list[str] | None:
        words = []
        for gate in puzzle["gates"]:
            letters = []
            for clue in gate["clues"]:
                key = text_key(clue["text"])
                if key not in self.initials:
                    self.reload()  # the demo grows its bank in the background
                letter = self.initials.get(key)
                if letter is None:
                    return None
                letters.append(letter)
            words.append("".join(letters))
        return words


async def flood(client: httpx.AsyncClient, base: str, total: int, concurrency: int) -> dict:
    outcome: dict[str, int] = {}
    ids_per_network: dict[str, set[str]] = {}
    queue = iter(range(total))

    async def worker() -> None:
        for n in queue:
            network = f"10.77.{n % 256}.{1 + (n // 256) % 250}"
            path = "/articles/1" if n % 2 else "/api/data"
            try:
                response = await client.get(
                    base + path,
                    headers={"X-Forwarded-For": network, "Accept": "application/json"},
                )
            except httpx.HTTPError:
                outcome["transport_error"] = outcome.get("transport_error", 0) + 1
                continue
            status = response.status_code
            key = str(status)
            if status == 401:
                challenge = response.json()["challenge"]
                ids_per_network.setdefault(f"{n % 256}{path}", set()).add(challenge["id"])
            elif status == 429:
                key = f"429 {response.json().get('error')}"
            outcome[key] = outcome.get(key, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    outcome["distinct_challenges"] = sum(len(ids) for ids in ids_per_network.values())
    outcome["seconds"] = round(elapsed, 1)
    outcome["requests_per_second"] = round(total / elapsed)
    return outcome


async def honest_agent(
    client: httpx.AsyncClient, base: str, oracle: Oracle, phase: list[Phase], stop: asyncio.Event
) -> None:
    headers = {"X-Forwarded-For": HONEST, "Accept": "application/json"}
    token: str | None = None
    while not stop.is_set():
        current = phase[-1]
        sent = dict(headers)
        if token:
            sent["Authorization"] = f"ReasoningGate {token}"
        response = await client.get(base + "/articles/2", headers=sent)
        if response.status_code == 200:
            if response.headers.get("gate-budget-remaining") == "0":
                token = None
            continue
        if response.status_code == 503:
            current.unavailable += 1
            await asyncio.sleep(1)
            continue
        if response.status_code != 401:
            current.other[response.status_code] = current.other.get(response.status_code, 0) + 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        challenge = response.json()["challenge"]
        current.prices.append(challenge["price"])
        current.tiers.append(challenge["puzzle"]["tier"])
        words = oracle.solve(challenge["puzzle"])
        if words is None:
            current.other[-1] = current.other.get(-1, 0) + 1
            await asyncio.sleep(1)
            continue
        await asyncio.sleep(max(0.0, challenge["not_before"] - time.time()))
        while True:
            answer = await client.post(
                base + challenge["url"], json={"answers": words}, headers=headers
            )
            if answer.status_code != 429:
                break
            await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
        if answer.status_code == 200:
            token = answer.json()["pass"]
            current.passes += 1
        elif answer.status_code == 503:
            current.unavailable += 1


async def browser(
    client: httpx.AsyncClient, base: str, counts: dict[str, int], stop: asyncio.Event
) -> None:
    headers = {"X-Forwarded-For": BROWSER, "Accept": "text/html"}
    while not stop.is_set():
        response = await client.get(base + "/articles/3", headers=headers)
        counts[str(response.status_code)] = counts.get(str(response.status_code), 0) + 1
        await asyncio.sleep(0.5)


async def scrape(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    text = (await client.get(url)).text
    wanted = (
        "gate_bank_fresh_clues",
        "gate_challenges_total",
        "gate_failures_total",
        "gate_bank_dry_total",
    )
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(wanted):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def summary(phase: Phase) -> str:
    if not phase.prices:
        return f"no challenge; 503s {phase.unavailable}; other {phase.other}"
    return (
        f"{len(phase.prices)} challenges, price median {statistics.median(phase.prices):.0f} "
        f"(min {min(phase.prices)}, max {max(phase.prices)}), tiers {sorted(set(phase.tiers))}, "
        f"passes {phase.passes}, 503s {phase.unavailable}, other {phase.other}"
    )


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="rg-drain-"))
    port, metrics_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    subprocess.run(["redis-cli", "-n", str(REDIS_DB), "flushdb"], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env.update(GATE_STATE_DIR=str(work), GATE_TRUSTED_PROXIES="127.0.0.1/32", GATE_SERVE_LIMIT="1")
    log_path = work / "gate.log"
    gate_bin = Path(sys.executable).with_name("gate")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(gate_bin),
                "demo",
                "--port",
                str(port),
                "--redis-url",
                redis_url,
                "--metrics-port",
                str(metrics_port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    limits = httpx.Limits(max_connections=args.concurrency + 8)
    try:
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            await wait_http(
                client, base + "/", process=process, timeout=60, ready=lambda status: status < 500
            )
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            waited = time.perf_counter()
            while time.perf_counter() - waited < args.bank_timeout:  # the demo grows its bank
                fresh = (await scrape(client, metrics_url)).get(
                    'gate_bank_fresh_clues{tier="2"}', 0.0
                )
                if fresh >= args.wait_bank:
                    break
                await asyncio.sleep(2)
            print(
                f"bank ready after {time.perf_counter() - waited:.0f} s: {fresh:.0f} fresh tier-2 clues"
            )
            oracle = Oracle(work / "gate.db")
            oracle.reload()
            stop = asyncio.Event()
            phases = [Phase()]
            browser_counts: dict[str, int] = {}
            agent = asyncio.create_task(honest_agent(client, base, oracle, phases, stop))
            person = asyncio.create_task(browser(client, base, browser_counts, stop))
            await asyncio.sleep(args.warmup)
            before = await scrape(client, f"http://127.0.0.1:{metrics_port}/metrics")
            log_before = log_path.stat().st_size
            phases.append(Phase())
            result = await flood(client, base, args.requests, args.concurrency)
            log_after = log_path.stat().st_size
            phases.append(Phase())
            await asyncio.sleep(args.warmup)
            stop.set()
            await asyncio.gather(agent, person)
            after = await scrape(client, f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    refused = sum(v for k, v in result.items() if re.fullmatch(r"4\d\d.*", k))
    print(
        f"# bench/drain.py — {time.strftime('%Y-%m-%d')} — {args.requests} flood requests, "
        f"concurrency {args.concurrency}, 256 /24 networks, GATE_SERVE_LIMIT=1, Redis store"
    )
    print(f"flood outcome: {result}")
    print(
        f"flood challenges composed (distinct ids seen): {result['distinct_challenges']} "
        f"for {args.requests} unpaid requests"
    )
    print(f"honest agent before the flood: {summary(phases[0])}")
    print(f"honest agent during the flood: {summary(phases[1])}")
    print(f"honest agent after the flood:  {summary(phases[2])}")
    print(f"browser (HTML) statuses: {browser_counts}")
    print(f"log bytes per refused flood request: {(log_after - log_before) / max(1, refused):.0f}")
    print("metrics before the flood:")
    for name, value in sorted(before.items()):
        print(f"  {name} {value:g}")
    print("metrics after:")
    for name, value in sorted(after.items()):
        print(f"  {name} {value:g}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before and after")
    parser.add_argument(
        "--wait-bank",
        type=int,
        default=50_000,
        help="wait until the demo's background build gives this many fresh tier-2 clues",
    )
    parser.add_argument("--bank-timeout", type=float, default=600.0)
    asyncio.run(main(parser.parse_args()))
