"""Gate overhead: a trivial ASGI app bare vs behind GateMiddleware with a valid pass.

Both servers run as single uvicorn processes on loopback and are loaded by the same wrk command in
the same run, so the ratio is meaningful on a noisy machine.  Also measures challenge issue+solve
operations per second on one core (memory and Redis stores, real clue bank).

    python bench/gate_overhead.py [--duration 8] [--connections 32] [--redis-url redis://127.0.0.1:6379/14]

Needs ``wrk`` (Debian package ``wrk``).  Prints a table; copy figures into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servers import (  # noqa: E402  (after the path fix-up)
    free_port,
    hello,
    load_subject,
    mint_pass,
    serve_app,
    stop,
    store_epoch,
    wait_port,
)

BENCH_RULES_BUDGET = 1_000_000_000
# passthrough: a no-op middleware that only adds a response header, the floor for any middleware;
# gated-memory: the gate on the in-process store, separating the gate's cost from Redis's;
# gated-lease: the gate on Redis with budget leases of LEASE uses (GATE_PASS_LEASE, gate.leases).
KINDS = ("bare", "passthrough", "gated", "gated-memory", "gated-lease")
GATED = ("gated", "gated-memory", "gated-lease")
# Every connection spends one pass: a lease must outlast the requests of one store round trip
# (32 connections, several in flight each), or they queue behind the top-ups (docs/deploy.md).
LEASE = 64


def bench_rules():  # type: ignore[no-untyped-def]
    from gate.rules import Rule, RuleSet

    # No solve-time floor: issue+solve measures the gate's CPU cost, not the floor's wait.
    rule = Rule("/", price=1_500, budget=BENCH_RULES_BUDGET, pass_ttl=86_400, solve_floor=0)
    return RuleSet([rule])


def passthrough(app):  # type: ignore[no-untyped-def]
    header = (b"gate-budget-remaining", b"0")

    async def middleware(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        async def send_with_header(message) -> None:  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        await app(scope, receive, send_with_header)

    return middleware


async def bench_runtime(kind: str, state_dir: Path, redis_url: str):  # type: ignore[no-untyped-def]
    """The gate's runtime for ``bench_rules()``: on Redis (``gated``) or in-process
    (``gated-memory``, whose store has an epoch of its own: written to ``memory-epoch`` in
    ``state_dir`` for the pass to carry)."""
    from gate.config import GateConfig
    from gate.epoch import current_epoch
    from serving.runtime import open_runtime

    store_url = "memory://" if kind == "gated-memory" else redis_url
    env = {"GATE_PASS_LEASE": str(LEASE)} if kind == "gated-lease" else {}
    config = GateConfig.from_env(env, state_dir=state_dir, store_url=store_url)
    runtime = await open_runtime(config, bench_rules())
    if kind == "gated-memory":
        (state_dir / "memory-epoch").write_text(await current_epoch(runtime.store, load_subject()))
    return runtime


def serve(kind: str, port: int, state_dir: str, redis_url: str) -> None:
    from serving.runner import run_server

    async def main() -> None:
        app = passthrough(hello) if kind == "passthrough" else hello
        runtime = None
        if kind in GATED:
            from middleware import GateMiddleware

            runtime = await bench_runtime(kind, Path(state_dir), redis_url)
            app = GateMiddleware(hello, runtime.gatekeeper)
        try:
            await serve_app(app, port)
        finally:
            if runtime:
                await runtime.close()

    run_server(main())


def run_wrk(url: str, duration: int, connections: int, header: str | None) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if header:
        cmd[1:1] = ["-H", header]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise SystemExit(
            f"{url}: {non2xx.group(1)} failed responses; the pass was not honoured\n{out}"
        )

    def pct(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rps, "p50": pct("50"), "p99": pct("99")}


def pass_header(state_dir: Path, epoch: str) -> str:
    """A pass for ``bench_rules()``'s one rule, as ``Authorization`` carries it."""
    return f"Authorization: ReasoningGate {mint_pass(state_dir, bench_rules().match('/'), epoch)}"


async def challenge_ops(
    store_url: str, seconds: float, state_dir: Path, concurrency: int = 16
) -> float:
    """Issue + solve pairs per second in one process (one core), solved by reading the bank.

    A flat rate curve keeps every puzzle at the base price (5 clues); ``concurrency`` agents run
    at once so a networked store is measured by its CPU cost, not by one client's round trips.
    """
    from gate.config import GateConfig
    from gate.gatekeeper import Challenge, Visitor
    from serving.runtime import open_runtime
    from tests.bank_solver import BankSolver

    env = {"GATE_RATE_CURVE": "0:1"}
    config = GateConfig.from_env(env, state_dir=state_dir, store_url=store_url, serve_limit=10**9)
    runtime = await open_runtime(config, bench_rules())
    solver = await BankSolver.load(runtime.engine)
    gk = runtime.gatekeeper
    done = 0
    deadline = time.perf_counter() + seconds

    async def agent(number: int) -> None:
        nonlocal done
        visitor = Visitor(path="/x", peer=f"10.{number}.0.1")
        while time.perf_counter() < deadline:
            decision = await gk.decide(visitor)
            assert isinstance(decision, Challenge)
            answers = solver.solve(decision.challenge.puzzle)
            await gk.solve(decision.challenge.challenge_id, visitor, answers)
            done += 1

    start = time.perf_counter()
    try:
        await asyncio.gather(*(agent(n) for n in range(concurrency)))
    finally:
        await runtime.close()
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--redis-url", default=os.environ.get("GATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.state_dir, args.redis_url)
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required: apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        procs, results = [], {}
        ports = {kind: free_port() for kind in KINDS}
        try:
            for kind, port in ports.items():
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            __file__,
                            "--serve",
                            kind,
                            "--port",
                            str(port),
                            "--state-dir",
                            tmp,
                            "--redis-url",
                            args.redis_url,
                        ]
                    )
                )
                wait_port(port, procs[-1])  # one at a time: the first gated server seeds the bank
            header = pass_header(state, store_epoch(args.redis_url))
            headers = {kind: header for kind in KINDS}
            # The in-process store has an epoch of its own (gate.epoch): its pass carries it.
            headers["gated-memory"] = pass_header(state, (state / "memory-epoch").read_text())
            run_wrk(f"http://127.0.0.1:{ports['gated']}/", 2, args.connections, header)  # warm-up
            run_wrk(f"http://127.0.0.1:{ports['bare']}/", 2, args.connections, header)
            for _round in range(2):  # interleave to spread machine noise over both
                for kind in KINDS:
                    result = run_wrk(
                        f"http://127.0.0.1:{ports[kind]}/",
                        args.duration,
                        args.connections,
                        headers[kind],  # the same request bytes (a pass of the same length)
                    )
                    best = results.get(kind)
                    results[kind] = result if best is None or result["rps"] > best["rps"] else best
        finally:
            for proc in procs:
                stop(proc)
        import uvloop

        memory_ops = uvloop.run(challenge_ops("memory://", 3, state))
        redis_ops = uvloop.run(challenge_ops(args.redis_url, 3, state))

    bare, gated = results["bare"], results["gated"]
    print(f"{'server':<12} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for kind in KINDS:
        r = results[kind]
        print(f"{kind:<12} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f}")
    print(f"throughput ratio gated/bare: {gated['rps'] / bare['rps']:.2f}x (target >= 0.8x)")
    for kind in ("gated-memory", "gated-lease"):
        print(f"throughput ratio {kind}/bare: {results[kind]['rps'] / bare['rps']:.2f}x")
    print(f"added p99: {gated['p99'] - bare['p99']:.2f} ms (target <= 1 ms)")
    for kind in ("gated-memory", "gated-lease"):
        print(f"added p99 ({kind}): {results[kind]['p99'] - bare['p99']:.2f} ms")
    # At saturation the server's time per request is 1/throughput: the difference is what the gate
    # adds to every paid request, whatever the app behind it costs.
    for kind in ("passthrough", *GATED):
        added = (1 / results[kind]["rps"] - 1 / bare["rps"]) * 1e6
        print(f"server time added per request ({kind}): {added:.0f} us")
    print(
        f"challenge issue+solve per second, one core: memory {memory_ops:.0f}, redis {redis_ops:.0f} (target >= 2000)"
    )
    print(
        json.dumps(
            {
                **results,
                "issue_solve_memory": memory_ops,
                "issue_solve_redis": redis_ops,
            }
        )
    )


if __name__ == "__main__":
    main()
