"""MCP gateway overhead: tool calls through ``gate mcp`` with a valid pass vs direct to the upstream.

Starts ``tests/mcp_upstream.py http PORT`` and, for each count in ``--gateways``, one
``gate mcp --upstream-url ... --price echo=1500 --workers N`` as subprocesses (on the Redis store),
mints a pass for ``echo`` (the gate's signing key in a shared state directory, the identity of
127.0.0.1, the rule ``tool_rules`` builds), then runs the same load against the upstream and each
gateway, interleaved: ``--clients`` concurrent ``mcp.Client``s, split over ``--workers`` processes,
each calling ``echo`` with the pass in ``_meta`` for ``--duration`` seconds.  Every call must succeed.

    python bench/mcp_overhead.py [--duration 5] [--clients 8] [--workers 2] [--rounds 2]
                                 [--gateways 1,2] [--mode 2026-07-28|legacy]
                                 [--redis-url redis://127.0.0.1:6379/14] [--sdk-rows]

``--sdk-rows`` adds, for each count, a gateway with ``MCP_GATEWAY_LEAN=0`` (every call through the
SDK's client, as before the fast path of mcp_server/lean.py): before and after in the same run.

Prints calls/s, p50 and p99 for each and its ratio to direct (target >= 0.7x).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servers import free_port, mint_pass, start, stop, store_epoch  # noqa: E402  (path fix-up)

TOOL = "echo"
PRICE = 1_500
BUDGET = 1_000_000_000
PASS_TTL = 86_400
START_TIMEOUT = 180  # the first start of a gate seeds the clue bank


def tool_pass(state_dir: Path, redis_url: str) -> str:
    """A pass for ``echo`` as the gate would mint it after a solved puzzle."""
    from mcp_server.toolgate import tool_rules

    rule = tool_rules({TOOL: PRICE}, budget=BUDGET, pass_ttl=PASS_TTL)[TOOL]
    return mint_pass(state_dir, rule, store_epoch(redis_url))


def wait_workers(log: Path, count: int, timeout: float = START_TIMEOUT) -> None:
    """Until every worker of a ``gate mcp --workers`` has said that it serves (the port opens
    with the first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text(errors="replace").count("gate mcp: serving")
        if lines >= count:
            return
        time.sleep(0.1)
    raise SystemExit(f"gate mcp --workers {count}: not every worker started\n{log.read_text()}")


def load_worker(url: str, clients: int, seconds: float, token: str, mode: str) -> dict[str, Any]:
    """One process of load: ``clients`` concurrent clients; returns latencies (s) and errors."""
    import anyio
    from mcp import Client

    from mcp_server.toolgate import PASS_META_KEY

    latencies: list[float] = []
    errors: list[str] = []

    async def one() -> None:
        async with Client(url, mode=mode, cache=None) as client:  # type: ignore[arg-type]
            await client.call_tool(TOOL, {"text": "warm"}, meta={PASS_META_KEY: token})
            deadline = time.perf_counter() + seconds
            while (start := time.perf_counter()) < deadline:
                result = await client.call_tool(TOOL, {"text": "x"}, meta={PASS_META_KEY: token})
                latencies.append(time.perf_counter() - start)
                if result.is_error:
                    errors.append(str(result.content[0])[:200])

    async def main() -> float:
        start = time.perf_counter()
        with anyio.fail_after(seconds + 30):  # bounded whatever the servers do
            async with anyio.create_task_group() as tg:
                for _ in range(clients):
                    tg.start_soon(one)
        return time.perf_counter() - start

    import uvloop

    elapsed = uvloop.run(main())
    return {"latencies": latencies, "errors": errors[:5], "elapsed": elapsed}


def run_load(
    pool: ProcessPoolExecutor, url: str, args: argparse.Namespace, token: str, seconds: float
) -> dict[str, float]:
    per_worker = [
        args.clients // args.workers + (i < args.clients % args.workers)
        for i in range(args.workers)
    ]
    futures = [pool.submit(load_worker, url, n, seconds, token, args.mode) for n in per_worker if n]
    parts = [future.result(timeout=seconds + 60) for future in futures]
    errors = [e for part in parts for e in part["errors"]]
    if errors:
        raise SystemExit(f"{url}: calls failed, the pass was not honoured: {errors[:3]}")
    latencies = sorted(x for part in parts for x in part["latencies"])
    # Calls counted over the timed window of each client (the warm-up call is outside it).
    rps = len(latencies) / seconds
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {"rps": rps, "p50": statistics.median(latencies) * 1000, "p99": p99 * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--gateways",
        default="1,2",
        help="comma-separated --workers counts of gate mcp, one gateway (and row) each",
    )
    parser.add_argument("--mode", default="2026-07-28", choices=["2026-07-28", "legacy"])
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("GATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="gate store; Redis, so the bench can read the store epoch its pass must carry",
    )
    parser.add_argument(
        "--sdk-rows",
        action="store_true",
        help="also a gateway per count with MCP_GATEWAY_LEAN=0 (the SDK's client on every call)",
    )
    args = parser.parse_args()

    counts = [int(count) for count in args.gateways.split(",") if count.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
        env["GATE_STATE_DIR"] = str(state)
        up_port = free_port()
        upstream_url = f"http://127.0.0.1:{up_port}/mcp"
        python = sys.executable
        procs: list[subprocess.Popen[bytes]] = []
        targets = {"direct": upstream_url}
        try:
            upstream_cmd = [python, "tests/mcp_upstream.py", "http", str(up_port)]
            procs.append(start(upstream_cmd, up_port, env=env, log=state / "up.log", timeout=30))
            variants = [(count, lean) for count in counts for lean in (True, False)]
            variants = [(c, lean) for c, lean in variants if lean or args.sdk_rows]
            for count, lean in variants:  # one after the other: the first seeds the bank
                gate_port = free_port()
                gate_cmd = [
                    python, "-m", "gate.cli", "mcp",
                    "--upstream-url", upstream_url,
                    "--price", f"{TOOL}={PRICE}",
                    "--budget", str(BUDGET),
                    "--pass-ttl", str(PASS_TTL),
                    "--port", str(gate_port),
                    "--redis-url", args.redis_url,
                    "--workers", str(count),
                ]  # fmt: skip
                name = f"gate x{count}" if lean else f"sdk x{count}"
                log = state / f"{name.replace(' ', '-')}.log"
                gate_env = env if lean else {**env, "MCP_GATEWAY_LEAN": "0"}
                procs.append(
                    start(gate_cmd, gate_port, env=gate_env, log=log, timeout=START_TIMEOUT)
                )
                wait_workers(log, count)
                targets[name] = f"http://127.0.0.1:{gate_port}/mcp"
            token = tool_pass(state, args.redis_url)
            results: dict[str, list[dict[str, float]]] = {kind: [] for kind in targets}
            with ProcessPoolExecutor(max_workers=args.workers) as pool:
                for url in targets.values():  # warm-up: imports, connections, first listings
                    run_load(pool, url, args, token, 1.0)
                for _round in range(args.rounds):  # interleaved: noise hits all alike
                    for kind, url in targets.items():
                        results[kind].append(run_load(pool, url, args, token, args.duration))
        finally:
            for proc in procs:
                stop(proc, timeout=20)
            for log in sorted([*state.glob("gate-x*.log"), *state.glob("sdk-x*.log")]):
                if log.read_text(errors="replace").strip():
                    text = log.read_text(errors="replace").strip()[-2000:]
                    print(f"{log.stem} stderr:\n{text}", file=sys.stderr)

    best = {kind: max(rounds, key=lambda r: r["rps"]) for kind, rounds in results.items()}
    print(
        f"{args.clients} clients in {args.workers} processes, {args.duration:g}s x {args.rounds} rounds, "
        f"mode {args.mode}, store {args.redis_url}, {os.cpu_count()} CPUs"
    )
    print(
        f"{'target':<8} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}"
        "   (best round; all rounds calls/s)"
    )
    direct = best["direct"]
    for kind, r in best.items():
        every = ", ".join(f"{x['rps']:.0f}" for x in results[kind])
        ratio = r["rps"] / direct["rps"]
        print(
            f"{kind:<8} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {ratio:>5.2f}x   [{every}]"
        )
    print("target: gated/direct >= 0.7x")
    print(json.dumps({kind: {**r, "ratio": r["rps"] / direct["rps"]} for kind, r in best.items()}))
    print("command: " + shlex.join(sys.argv))


if __name__ == "__main__":
    main()
