"""Forward auth at the edge: the real nginx and caddy in front of a trivial upstream, in one run.

Rows, each as a ratio to the upstream measured directly in the same run:

    direct          the trivial upstream (one uvicorn process, uvloop + httptools)
    EDGE proxy      the edge proxying to it, no auth
    EDGE + trivial  the edge's forward-auth flow (deploy/'s config) asking a uvicorn endpoint that
                    answers 200 at once: the ceiling of forward auth with one Python process
    EDGE + authz N  the same config asking `gate authz` (Redis store) with a valid pass, N workers
    gate proxy N    `gate proxy --upstream` (Redis store) with a valid pass, N workers, no edge
    ... lease L     the same with budget leases of L uses (GATE_PASS_LEASE, gate.leases), 1 worker
    ... cache Ts    nginx caching the gate's paid yes for T s (GATE_EDGE_CACHE, docs/deploy.md)

    python bench/edge.py [--duration 6] [--connections 32] [--redis-url redis://127.0.0.1:6379/14]

Needs wrk, nginx, caddy and Redis.  The edge runs 2 worker processes (nginx) or GOMAXPROCS=2
(caddy).  Prints a table (and JSON with --json); copy the figures into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gate_overhead import BENCH_RULES_BUDGET, run_wrk  # noqa: E402  (after the path fix-up)
from bench.servers import (  # noqa: E402
    free_port,
    hello,
    mint_pass,
    serve_app,
    start,
    stop,
    store_epoch,
    wait_port,
)
from tests.edges import edge_proxy  # noqa: E402

RULE = f"/=price:1500:budget={BENCH_RULES_BUDGET}:ttl=86400"  # bench_rules() as a --rule


def rule_pass(state_dir: Path, redis_url: str) -> str:
    """A pass for RULE, bound to 127.0.0.1's network (wrk's address, as the edge forwards it)."""
    from middleware.proxy_cli import parse_rules

    rule = parse_rules([RULE]).match("/")
    assert rule is not None
    return mint_pass(state_dir, rule, store_epoch(redis_url))


def _label(workers: int, lease: int, cache: int) -> str:
    return (
        f"x{workers}"
        + (f" lease {lease}" if lease > 1 else "")
        + (f" cache {cache}s" if cache else "")
    )


@contextlib.contextmanager
def running_gate(
    mode: str,
    state: Path,
    redis_url: str,
    workers: int,
    lease: int,
    cache: int,
    extra: Sequence[str] = (),
) -> Iterator[tuple[int, str]]:
    """Run ``gate MODE`` (authz or proxy) on RULE with a Redis store; yields its port and the
    Authorization header line of a valid pass.  The one place both command lines are built."""
    port = free_port()
    env = {
        **os.environ,
        "GATE_STATE_DIR": str(state),
        "GATE_TRUSTED_PROXIES": "127.0.0.1/32",
        "GATE_PASS_LEASE": str(lease),
        "GATE_EDGE_CACHE": str(cache),
    }
    command = [
        str(Path(sys.executable).with_name("gate")),
        mode,
        *extra,
        "--port",
        str(port),
        "--redis-url",
        redis_url,
        "--rule",
        RULE,
        "--workers",
        str(workers),
    ]
    # Its access log (uvicorn at info, gate proxy) would interleave with the table.
    gate = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, gate, timeout=120)  # the first start seeds the bank
        yield port, f"Authorization: ReasoningGate {rule_pass(state, redis_url)}"
    finally:
        stop(gate)


async def trivial_auth(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


def serve(kind: str, port: int) -> None:
    from serving.runner import run_server

    run_server(serve_app(hello if kind == "upstream" else trivial_auth, port, backlog=2048))


def plain_nginx(workdir: Path, port: int, site: str) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    temps = "\n".join(
        f"{kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""daemon off; worker_processes 2; pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{ access_log off; {temps}
  upstream site {{ server {site}; keepalive 64; }}
  server {{ listen 127.0.0.1:{port};
    location / {{ proxy_pass http://site; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}
"""
    )
    return ["nginx", "-c", str(conf), "-p", str(workdir), "-e", str(workdir / "error.log")]


def plain_caddy(workdir: Path, port: int, site: str) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "Caddyfile"
    conf.write_text(
        f"{{\n\tadmin off\n}}\nhttp://127.0.0.1:{port} {{\n\tbind 127.0.0.1\n\treverse_proxy {site}\n}}\n"
    )
    return ["caddy", "run", "--config", str(conf), "--adapter", "caddyfile"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", default="1,2", help="gate authz worker counts to measure")
    parser.add_argument("--edges", default="nginx,caddy")
    parser.add_argument(
        "--leases", default="64", help="budget lease sizes to measure too (1 worker); '' for none"
    )
    parser.add_argument(
        "--edge-cache",
        default="2",
        help="GATE_EDGE_CACHE seconds to measure too (nginx, 1 worker); '' for none",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("GATE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    for tool in ("wrk", "nginx", "caddy"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"{tool} is required (Debian package {tool})")

    results: dict[str, dict[str, float]] = {}
    processes: list[subprocess.Popen[bytes]] = []

    def measure(name: str, url: str, header: str | None = None) -> None:
        results[name] = run_wrk(url, args.duration, args.connections, header)
        print(
            f"{name:<32} {results[name]['rps']:>9,.0f} req/s  p99 {results[name]['p99']:.2f} ms",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        state = work / "state"
        try:
            up_port, auth_port = free_port(), free_port()
            for kind, port in (("upstream", up_port), ("trivial", auth_port)):
                command = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
                processes.append(start(command, port))
            site = f"127.0.0.1:{up_port}"
            measure("direct", f"http://{site}/")
            # (workers, lease size, edge cache seconds) of each gate measured: every worker count
            # unleased, then each lease size on one worker, then each edge cache time.
            gates = [(int(n), 1, 0) for n in args.workers.split(",")]
            gates += [(1, int(n), 0) for n in args.leases.split(",") if n and int(n) > 1]
            gates += [(1, 1, int(n)) for n in args.edge_cache.split(",") if n and int(n) > 0]
            for edge in args.edges.split(","):
                port = free_port()
                command = (
                    plain_nginx(work / f"{edge}-plain", port, site)
                    if edge == "nginx"
                    else plain_caddy(work / f"{edge}-plain", port, site)
                )
                env = {
                    **os.environ,
                    "HOME": str(work),
                    "XDG_DATA_HOME": str(work / "xdg"),
                    "GOMAXPROCS": "2",
                }
                plain = start(command, port, env=env)
                try:
                    measure(f"{edge} proxy", f"http://127.0.0.1:{port}/")
                finally:
                    stop(plain)
                with edge_proxy(
                    edge,
                    work / f"{edge}-trivial",
                    gate=f"127.0.0.1:{auth_port}",
                    site=site,
                    workers=2,
                ) as base:
                    measure(f"{edge} + trivial auth", f"{base}/")
            for count, lease, cache in gates:
                label = _label(count, lease, cache)
                edges = [e for e in args.edges.split(",") if not cache or e == "nginx"]
                with running_gate("authz", state, args.redis_url, count, lease, cache) as (
                    port,
                    header,
                ):
                    for edge in edges:  # only nginx's config caches decisions
                        with edge_proxy(
                            edge,
                            work / f"{edge}-gate{count}-{lease}-{cache}",
                            gate=f"127.0.0.1:{port}",
                            site=site,
                            workers=2,
                        ) as base:
                            measure(f"{edge} + gate authz {label}", f"{base}/", header)
            for count, lease, cache in gates:
                if cache:
                    continue  # `gate proxy` has no edge in front to cache
                upstream = ("--upstream", f"http://{site}")
                with running_gate("proxy", state, args.redis_url, count, lease, 0, upstream) as (
                    port,
                    header,
                ):
                    measure(
                        f"gate proxy {_label(count, lease, 0)}", f"http://127.0.0.1:{port}/", header
                    )
        finally:
            for process in processes:
                stop(process)

    direct = results["direct"]["rps"]
    print("\n| path | req/s | vs direct | p99 ms |\n| --- | ---: | ---: | ---: |")
    for name, figures in results.items():
        print(
            f"| {name} | {figures['rps']:,.0f} | {figures['rps'] / direct:.2f}x | {figures['p99']:.2f} |"
        )
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
