"""Footprint of one gateway replica, for sizing (docs/deploy.md#sizing).

Starts `gate proxy` the production way (a PostgreSQL schema made by `gate db upgrade` and seeded with
the built-in bank, a shared Redis, GATE_DB_AUTO_UPGRADE=never) in front of a trivial upstream, then
prints: seconds from spawn to the first answer, resident memory after start, and resident memory
after a load of free requests and challenge issues (each from its own client network).

    python bench/replica_footprint.py [--requests 2000] [--redis redis://127.0.0.1:6379/14]

Needs the local PostgreSQL (GATE_TEST_POSTGRES_URL or the `test` database) and Redis; the schema
it makes is dropped at the end.  The Redis database given is flushed of nothing: keys expire.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.servers import free_port

POLICY = """
version: 1
rules:
  - {name: articles, match: {path: /articles/}, action: challenge, price: 600}
default: allow
"""


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: without this, Nagle and delayed ACKs add 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def schema(base: str, name: str, *, drop: bool = False) -> None:
    import asyncpg

    dsn = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(
            f'DROP SCHEMA IF EXISTS "{name}" CASCADE' if drop else f'CREATE SCHEMA "{name}"'
        )
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()

    base = os.environ.get("GATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(schema(base, name))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={name}"})
    tmp = Path(tempfile.mkdtemp(prefix="gate-footprint-"))
    (tmp / "policy.yaml").write_text(POLICY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env.update(
        GATE_DATABASE_URL=url.render_as_string(hide_password=False),
        GATE_STORE_URL=args.redis,
        GATE_STATE_DIR=str(tmp),
        GATE_DB_AUTO_UPGRADE="never",
        GATE_POLICY_FILE=str(tmp / "policy.yaml"),
        GATE_TRUSTED_PROXIES="127.0.0.1/32",
    )
    gate = [sys.executable, "-m", "gate.cli"]
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    process = None
    try:
        subprocess.run([*gate, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([*gate, "puzzles", "seed"], env=env, check=True, capture_output=True)
        port = free_port()
        started = time.perf_counter()
        process = subprocess.Popen(
            [*gate, "proxy", "--port", str(port), "--upstream",
             f"http://127.0.0.1:{upstream.server_address[1]}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        target = f"http://127.0.0.1:{port}"
        while True:
            try:
                httpx2.get(target + "/", timeout=1)
                break
            except httpx2.TransportError:
                if process.poll() is not None or time.perf_counter() - started > 120:
                    raise SystemExit("the replica did not start") from None
                time.sleep(0.05)
        ready = time.perf_counter() - started
        after_start = rss_mib(process.pid)

        load_started = time.perf_counter()
        statuses = []
        with httpx2.Client(timeout=10) as client:
            for i in range(args.requests):
                xff = f"10.{i // 250}.{i % 250}.1"  # a client network of its own per request
                headers = {"Accept": "application/json", "X-Forwarded-For": xff}
                path = "/articles/1" if i % 2 else "/"
                statuses.append(client.get(target + path, headers=headers).status_code)
        load = time.perf_counter() - load_started
        print(f"ready after {ready:.2f} s; RSS after start {after_start:.0f} MiB")
        print(
            f"{args.requests} requests ({statuses.count(401)} challenges issued, "
            f"{statuses.count(200)} passed through) in {load:.1f} s; "
            f"RSS after load {rss_mib(process.pid):.0f} MiB"
        )
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=20)
        upstream.shutdown()
        asyncio.run(schema(base, name, drop=True))


if __name__ == "__main__":
    main()
