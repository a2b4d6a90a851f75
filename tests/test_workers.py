"""``--workers N`` of ``gate proxy`` and ``gate authz`` (and the refusal all three commands share;
``gate mcp``'s workers are driven in tests/test_mcp_workers.py): real processes on one port and
a Redis of their own, spread by the kernel, started and stopped by ``tests.support.gate_workers``."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support import free_port, gate_workers, stopped_together


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"upstream"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "command",
    [
        ["proxy", "--upstream", "http://127.0.0.1:9"],
        ["authz"],
        ["mcp", "--upstream-url", "http://127.0.0.1:9/mcp", "--price", "echo=1500"],
    ],
)
def test_workers_above_one_on_the_memory_store_are_refused_in_one_line(
    command: list[str], tmp_path: Path
) -> None:
    env = {**os.environ, "GATE_STATE_DIR": str(tmp_path), "GATE_STORE_URL": "memory://"}
    env["GATE_TRUSTED_PROXIES"] = "127.0.0.1/32"
    result = subprocess.run(
        [sys.executable, "-m", "gate.cli", *command, "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "--workers above 1 needs a shared store" in lines[0]
    assert not (tmp_path / "gate.db").exists()  # refused before anything started


def test_gate_proxy_workers_share_one_port_and_stop_together(
    seeded_state: Path, own_redis_url: str, upstream: str
) -> None:
    port = free_port()
    env = {**os.environ, "GATE_STATE_DIR": str(seeded_state), "GATE_STORE_URL": ""}
    args = ["proxy", "--upstream", upstream, "--port", str(port)]
    with gate_workers([*args, "--redis-url", own_redis_url, "--workers", "2"], env) as group:
        for _ in range(8):  # new connections each: the kernel spreads them over both
            with httpx2.Client() as http:
                response = http.get(f"http://127.0.0.1:{port}/page")
                assert (response.status_code, response.text) == (200, "upstream")
    stopped_together(*group)


def test_gate_authz_workers_share_one_port_and_stop_together(
    seeded_state: Path, own_redis_url: str
) -> None:
    port = free_port()
    env = {**os.environ, "GATE_STATE_DIR": str(seeded_state), "GATE_STORE_URL": ""}
    env["GATE_TRUSTED_PROXIES"] = "127.0.0.1/32"
    args = ["authz", "--port", str(port), "--rule", "/paid/=price:600"]
    with gate_workers([*args, "--redis-url", own_redis_url, "--workers", "2"], env) as group:
        headers = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/free", "X-Forwarded-Host": "a"}
        for _ in range(8):  # new connections each: the kernel spreads them over both
            with httpx2.Client() as http:
                response = http.get(f"http://127.0.0.1:{port}/.gate/auth", headers=headers)
                assert response.status_code == 200
    stopped_together(*group)
