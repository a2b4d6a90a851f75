"""Reverse proxy overhead: a trivial upstream direct, through a plain ``ReverseProxy`` (no gate) and
through ``gate proxy`` (``proxy_app``) with a valid pass, in the same run.

plain - direct is the proxy's own cost; gated - plain is the gate's.  Every server is one uvicorn
process (uvloop, httptools) on loopback, loaded by the same wrk command with the same request bytes;
two interleaved rounds per server, best kept.

    python bench/proxy_overhead.py [--duration 8] [--connections 32] [--redis-url redis://127.0.0.1:6379/14]

Needs ``wrk`` (Debian package ``wrk``) and Redis.  Prints a table; copy figures into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gate_overhead import bench_runtime, pass_header, run_wrk  # noqa: E402  (path fix-up)
from bench.servers import free_port, hello, serve_app, stop, store_epoch, wait_port  # noqa: E402

# direct: the upstream itself; plain: ReverseProxy alone; gated: GateMiddleware(ReverseProxy) on
# Redis, as `gate proxy --redis-url` runs; gated-memory: the same on the in-process store.
KINDS = ("direct", "plain", "gated", "gated-memory")


def serve(kind: str, port: int, upstream: str, state_dir: str, redis_url: str) -> None:
    from serving.runner import run_server

    async def main() -> None:
        from middleware.proxy import ReverseProxy, proxy_app

        runtime = None
        if kind == "upstream":
            app = hello
        elif kind == "plain":
            app = ReverseProxy(upstream)
        else:
            runtime = await bench_runtime(kind, Path(state_dir), redis_url)
            app = proxy_app(upstream, runtime.gatekeeper)
        try:
            await serve_app(app, port, lifespan="on" if kind != "upstream" else "off")
        finally:
            if runtime:
                await runtime.close()

    run_server(main())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--redis-url", default=os.environ.get("GATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.upstream, args.state_dir, args.redis_url)
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required: apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp:
        ports = {kind: free_port() for kind in ("upstream", "plain", "gated", "gated-memory")}
        upstream = f"http://127.0.0.1:{ports['upstream']}"
        procs, results = [], {}
        try:
            for kind, port in ports.items():
                command = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
                command += ["--upstream", upstream, "--state-dir", tmp]
                command += ["--redis-url", args.redis_url]
                procs.append(subprocess.Popen(command))
                wait_port(port, procs[-1])  # one at a time: the first gated server seeds the bank
            headers = dict.fromkeys(KINDS, pass_header(Path(tmp), store_epoch(args.redis_url)))
            # The in-process store has an epoch of its own (gate.epoch): its pass carries it.
            memory_epoch = (Path(tmp) / "memory-epoch").read_text()
            headers["gated-memory"] = pass_header(Path(tmp), memory_epoch)
            urls = {
                "direct": f"{upstream}/",
                "plain": f"http://127.0.0.1:{ports['plain']}/",
                "gated": f"http://127.0.0.1:{ports['gated']}/",
                "gated-memory": f"http://127.0.0.1:{ports['gated-memory']}/",
            }
            for kind, url in urls.items():  # warm-up: connection pools, caches
                run_wrk(url, 2, args.connections, headers[kind])
            for _round in range(2):  # interleave to spread machine noise over every server
                for kind in KINDS:
                    result = run_wrk(urls[kind], args.duration, args.connections, headers[kind])
                    best = results.get(kind)
                    results[kind] = result if best is None or result["rps"] > best["rps"] else best
        finally:
            for proc in procs:
                stop(proc)

    direct = results["direct"]
    print(f"{'server':<13} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'vs direct':>10}")
    for kind in KINDS:
        r = results[kind]
        ratio = r["rps"] / direct["rps"]
        print(f"{kind:<13} {r['rps']:>10.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {ratio:>9.2f}x")
    print(
        f"throughput ratio gated/direct: {results['gated']['rps'] / direct['rps']:.2f}x (target >= 0.7x)"
    )
    print(f"throughput ratio gated/plain: {results['gated']['rps'] / results['plain']['rps']:.2f}x")
    # At saturation a server's time per request is 1/throughput; the proxy process is the
    # bottleneck, so these differences are what each layer costs per request.
    for kind, base in (("plain", "direct"), ("gated", "plain"), ("gated-memory", "plain")):
        added = (1 / results[kind]["rps"] - 1 / results[base]["rps"]) * 1e6
        print(f"server time added per request ({kind} - {base}): {added:.0f} us")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
