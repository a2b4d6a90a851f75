"""Soak: two gateway processes on one Redis, honest and unpaid clients, a Redis restart midway.

Starts a private ``redis-server`` (no persistence) and two ``gate demo`` processes on it that share
one state directory (signing key, SQLite bank), trusting 127.0.0.1 so each client speaks for its
own network through ``X-Forwarded-For``.  For ``--seconds``:

- ``--clients`` honest agents ask for a priced page, solve (an oracle reading the bank's answers by
  clue text stands in for their model), and spend each pass on both gateways alternately;
- as many unpaid clients ask for priced pages and never pay;
- halfway, Redis is restarted (its state is lost).

Checked and printed: unexpected statuses (anything but 200/401/429, and 503 only while Redis is
down), double spends (a pass serving more requests than its budget, over both gateways), passes of
before the restart that worked after it, resident memory of each gateway before and after, and
log bytes per request.  Resident memory is also sampled ``--samples`` times over the run.  Two
one-time steps are not growth: the demo builds its large bank (170k clues) in the background after
its first start, then loads it (``--built-bank`` builds it before the gateways start, as a
deployment does, so they serve it from the start); and when a gateway's bank first runs dry it
builds its reuse index over the whole bank once (about 23 MiB for the built bank; the sample is in
``bank_dry_from_sample``).  ``rss_growth_after_dry_pct`` (from the sample after that step to the
end) says whether memory is flat.  Exit status 0 when every count that must be 0 is.

    python bench/soak.py                         # 60 s, 8 honest + 8 unpaid clients
    python bench/soak.py --seconds 300 --built-bank --samples 24   # the long form (docs/security.md)
    python bench/soak.py --seconds 10 --clients 2   # the short form CI runs (tests/test_soak.py)
    python bench/soak.py --trace DIR             # gateways under tracemalloc (bench/soak_gate.py)
    python bench/soak.py --pass-cache 2048       # the pass cache's plateau within minutes
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import free_port, private_redis, wait_http
from puzzles.bank import text_key

BUDGET = 5  # the demo's /articles/ rule
STORE_DEADLINE = 2.0  # RedisStore.from_url's default timeout per batch


class Oracle:
    """Answers clues by their text in the bank: the honest agents' stand-in for a model."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.initials: dict[str, str] = {}

    def solve(self, puzzle: dict[str, Any]) -> list[str] | None:
        words = []
        for gate in puzzle["gates"]:
            letters = []
            for clue in gate["clues"]:
                key = text_key(clue["text"])
                if key not in self.initials:
                    with sqlite3.connect(self.db) as conn:
                        self.initials = dict(conn.execute("SELECT text_key, initial FROM clues"))
                if key not in self.initials:
                    return None
                letters.append(self.initials[key])
            words.append("".join(letters))
        return words


class Tally:
    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.unexpected: Counter[str] = Counter()
        self.served: Counter[str] = Counter()  # pass -> 200s it bought
        self.epoch_of: dict[str, int] = {}  # pass -> restarts seen when it was minted
        self.stale_served = 0  # passes minted before the restart that worked after it
        self.requests = 0
        self.restarts = 0
        # Requests started in [down_from, down_until] may meet Redis away: their 503 is expected.
        self.down_from = float("inf")
        self.stopped_at = float("inf")  # when Redis was stopped: later asks meet the new one
        self.down_until = float("inf")
        self.expected_503 = 0
        self.late_503: list[float] = []  # seconds after the window, of unexpected 503s

    def store_away(self, started: float) -> bool:
        return self.down_from <= started <= self.down_until

    def unavailable(self, started: float) -> None:
        if self.store_away(started):
            self.expected_503 += 1
        else:
            self.unexpected["503"] += 1
            self.late_503.append(round(started - self.down_until, 2))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


DRY_LINE = b"clue bank dry"  # the composer's warning when it first reuses served clues
BUILT_LINE = b"Large clue bank ready"  # the demo's background build is done and loaded


async def sample_rss(
    processes: list[subprocess.Popen[bytes]], logs: list[Path], every: float,
    into: list[list[int]], dry_at: list[int | None], stop: asyncio.Event, *, built: bool,
) -> None:  # fmt: skip
    """Sample each process's resident memory every ``every`` seconds; ``dry_at[i]``: the first
    sample at which process ``i`` had logged that the bank it serves ran dry (the large one:
    with ``built`` false, only a dry line after the background build's line counts).  That is
    the last one-time step (the composer builds its reuse index over the whole bank, about
    23 MiB for the built bank): growth after it is what says whether memory is flat."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            into.append([rss_kib(process.pid) for process in processes])
            for i, path in enumerate(logs):
                text = path.read_bytes()
                start = 0 if built else text.find(BUILT_LINE)
                if dry_at[i] is None and start >= 0 and text.find(DRY_LINE, start) >= 0:
                    dry_at[i] = len(into) - 1


def growth_pct(samples: list[list[int]], after: list[int], start: list[int | None]) -> list[Any]:
    """Per process: growth from sample ``start[i]`` to ``after[i]`` (None without a start)."""
    return [
        None if first is None else round(100 * (end - samples[first][i]) / samples[first][i], 1)
        for i, (end, first) in enumerate(zip(after, start, strict=True))
    ]


async def honest(
    client: httpx.AsyncClient, bases: list[str], network: str, oracle: Oracle, tally: Tally,
    stop: asyncio.Event,
) -> None:  # fmt: skip
    headers = {"X-Forwarded-For": network, "Accept": "application/json"}
    token: str | None = None
    turn = 0
    while not stop.is_set():
        turn += 1
        base = bases[turn % 2]
        sent = {**headers, **({"Authorization": f"ReasoningGate {token}"} if token else {})}
        started = time.monotonic()
        try:
            response = await client.get(base + "/articles/1", headers=sent)
        except httpx.HTTPError as exc:
            tally.unexpected[f"transport {type(exc).__name__}"] += 1
            continue
        tally.requests += 1
        status = response.status_code
        tally.statuses[str(status)] += 1
        if status == 200 and token:
            tally.served[token] += 1
            if tally.epoch_of[token] < tally.restarts and started > tally.stopped_at:
                # Asked after Redis went away (so answered by the new one): an old pass must
                # not work.  Requests the old Redis answered before it stopped do not count.
                tally.stale_served += 1
            continue
        if status == 503:
            tally.unavailable(started)
            await asyncio.sleep(0.2)
            continue
        if status == 429:
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        if status != 401:
            tally.unexpected[str(status)] += 1
            continue
        token = None
        challenge = response.json()["challenge"]
        words = oracle.solve(challenge["puzzle"])
        if words is None:
            tally.unexpected["unsolvable"] += 1
            await asyncio.sleep(0.5)
            continue
        started = time.monotonic()
        solved = await client.post(
            base + challenge["url"], json={"answers": words}, headers=headers
        )
        tally.requests += 1
        if solved.status_code == 200:
            token = solved.json()["pass"]
            tally.epoch_of[token] = tally.restarts
        elif solved.status_code == 503:
            tally.unavailable(started)
        elif solved.status_code in (410, 429):
            pass  # gone with the restart, or too early
        else:
            tally.unexpected[f"solve {solved.status_code}"] += 1


async def unpaid(
    client: httpx.AsyncClient, bases: list[str], network: str, tally: Tally, stop: asyncio.Event
) -> None:
    turn = 0
    while not stop.is_set():
        turn += 1
        started = time.monotonic()
        try:
            response = await client.get(
                bases[turn % 2] + ("/articles/2", "/api/data")[turn % 2],
                headers={"X-Forwarded-For": network, "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            tally.unexpected[f"transport {type(exc).__name__}"] += 1
            continue
        tally.requests += 1
        tally.statuses[f"unpaid {response.status_code}"] += 1
        if response.status_code == 200:
            tally.unexpected["unpaid 200"] += 1
        elif response.status_code == 503:
            tally.unavailable(started)
        elif response.status_code not in (401, 429):
            tally.unexpected[f"unpaid {response.status_code}"] += 1
        await asyncio.sleep(0.02)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rg-soak-"))
    redis_port = free_port()
    redis = private_redis(redis_port, str(work))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env.update(
        GATE_STATE_DIR=str(work),
        GATE_TRUSTED_PROXIES="127.0.0.1/32",
        GATE_DECODE_RATE="1000000000",  # no solve-time floor: the soak measures state, not time
        GATE_HUMAN_FLOOR="0",
    )
    gate_bin = [str(Path(sys.executable).with_name("gate"))]
    if args.trace is not None or args.pass_cache is not None or args.heap:
        gate_bin = [sys.executable, str(Path(__file__).with_name("soak_gate.py"))]  # instruments
    if args.heap:
        env.update(SOAK_HEAP_EVERY=str(args.seconds / args.samples))
    if args.trace is not None:  # the same gateways, under tracemalloc
        env.update(
            TRACE_DIR=str(args.trace.resolve()), TRACE_EVERY=str(args.seconds / args.samples)
        )
    if args.pass_cache is not None:
        env.update(SOAK_PASS_CACHE=str(args.pass_cache))
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    gateways: list[subprocess.Popen[bytes]] = []
    logs = [work / f"gate-{i}.log" for i in range(2)]
    tally = Tally()
    if args.built_bank:  # as a deployment does before serving: the gateways load it whole
        for step in ("seed", "build"):
            subprocess.run(
                [str(Path(sys.executable).with_name("gate")), "puzzles", step],
                env=env, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            for port, log_path, base in zip(ports, logs, bases, strict=True):
                with log_path.open("wb") as log:
                    gateways.append(
                        subprocess.Popen(
                            [
                                *gate_bin,
                                "demo",
                                "--port",
                                str(port),
                                "--redis-url",
                                f"redis://127.0.0.1:{redis_port}/0",
                            ],
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
                # One at a time: the first seeds the shared bank.
                await wait_http(client, base + "/", process=gateways[-1], timeout=180)
            oracle = Oracle(work / "gate.db")
            rss_before = [rss_kib(process.pid) for process in gateways]
            log_before = sum(path.stat().st_size for path in logs)
            stop = asyncio.Event()
            samples: list[list[int]] = []
            dry_at: list[int | None] = [None] * len(gateways)
            sampler = asyncio.create_task(
                sample_rss(
                    gateways,
                    logs,
                    args.seconds / args.samples,
                    samples,
                    dry_at,
                    stop,
                    built=args.built_bank,
                )
            )
            tasks = [
                asyncio.create_task(honest(client, bases, f"192.0.{2 + i}.10", oracle, tally, stop))
                for i in range(args.clients)
            ] + [
                asyncio.create_task(unpaid(client, bases, f"203.0.{i}.7", tally, stop))
                for i in range(args.clients)
            ]
            await asyncio.sleep(args.seconds / 2)
            half = len(samples)  # samples taken before the restart
            # A request still waiting on Redis when it stops fails too: anything started within
            # the store's batch deadline (2 s) before the stop may be in flight.
            tally.stopped_at = time.monotonic()
            tally.down_from = tally.stopped_at - STORE_DEADLINE
            redis.terminate()
            redis.wait(10)
            tally.restarts += 1  # passes minted from now on belong to the new epoch
            redis = private_redis(redis_port, str(work))
            # Requests started up to a moment after Redis answers again may still fail (a pooled
            # connection to the old server, the store's 2 s deadline): expected 503s.
            tally.down_until = time.monotonic() + 2.5
            await asyncio.sleep(args.seconds / 2)
            stop.set()
            await asyncio.gather(*tasks, sampler)
            rss_after = [rss_kib(process.pid) for process in gateways]
            log_after = sum(path.stat().st_size for path in logs)
            # What the gateways said about their failures (one line per cause and minute): the
            # cause of any 503 outside the restart.
            heap = [
                [int(line.split()[1]) for line in path.read_text(errors="replace").splitlines()
                 if line.startswith("soak-heap ")]
                for path in logs
            ]  # fmt: skip
            failures = [
                line[:240]
                for path in logs
                for line in path.read_text(errors="replace").splitlines()
                if "gate failure (" in line
            ]
    finally:
        for process in gateways:
            process.send_signal(signal.SIGTERM)
        for process in gateways:
            process.wait(30)
        redis.terminate()
        redis.wait(10)
        if args.trace is not None:
            for path in logs:
                shutil.copy(path, args.trace / path.name)
        shutil.rmtree(work, ignore_errors=True)
    double_spends = sum(1 for count in tally.served.values() if count > BUDGET)
    return {
        "seconds": args.seconds,
        "honest_clients": args.clients,
        "unpaid_clients": args.clients,
        "requests": tally.requests,
        "passes": len(tally.served),
        "statuses": dict(tally.statuses),
        "unexpected": dict(tally.unexpected),
        "expected_503_during_restart": tally.expected_503,
        "late_503_seconds": tally.late_503,
        "double_spends": double_spends,
        "stale_passes_served_after_restart": tally.stale_served,
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_after,
        "rss_kib_samples": samples,
        "rss_growth_second_half_pct": growth_pct(
            samples, rss_after, [half - 1 if half else None] * len(rss_after)
        ),
        "bank_dry_from_sample": dry_at,
        # From the first sample after the bank ran dry (the last one-time step) to the end.
        "rss_growth_after_dry_pct": growth_pct(
            samples,
            rss_after,
            [None if at is None or at + 1 >= len(samples) else at + 1 for at in dry_at],
        ),
        "python_blocks_samples": heap if args.heap else None,
        "failure_lines": failures[:10],
        "log_bytes": log_after - log_before,
        "log_bytes_per_request": round((log_after - log_before) / max(1, tally.requests), 1),
    }


def run(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--samples", type=int, default=12, help="Resident memory samples.")
    parser.add_argument(
        "--built-bank",
        action="store_true",
        help="Build the large bank before the gateways start (gate puzzles build), so they serve "
        "it from the start instead of building it in the background (the demo's first minutes).",
    )
    parser.add_argument(
        "--heap",
        action="store_true",
        help="Also sample each gateway's live Python blocks (sys.getallocatedblocks()).",
    )
    parser.add_argument(
        "--pass-cache",
        type=int,
        help="Bound of the gateways' verified-pass cache (default 65,536), to show its plateau.",
    )
    parser.add_argument(
        "--trace", type=Path, help="Run the gateways under tracemalloc, snapshots into this folder."
    )
    return asyncio.run(main(parser.parse_args(argv)))


if __name__ == "__main__":
    result = run()
    for name, value in result.items():
        print(f"{name}: {value}")
    held = (
        not result["unexpected"]
        and result["double_spends"] == 0
        and result["stale_passes_served_after_restart"] == 0
    )
    print("held" if held else "DID NOT HOLD")
    sys.exit(0 if held else 1)
