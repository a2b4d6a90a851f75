"""``--workers N`` of ``gate proxy`` (and the refusal all three commands share; ``gate authz``'s
workers are driven in tests/test_authz.py, ``gate mcp``'s in tests/test_mcp_workers.py): real processes on one port, spread by the kernel."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support import free_port


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
    seeded_state: Path, redis_url: str, upstream: str
) -> None:
    port = free_port()
    env = {**os.environ, "GATE_STATE_DIR": str(seeded_state), "GATE_STORE_URL": ""}
    command = [sys.executable, "-m", "gate.cli", "proxy", "--upstream", upstream]
    command += ["--port", str(port), "--redis-url", redis_url, "--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        pids: set[str] = set()
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while len(pids) < 2 and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "gate proxy exited before both workers were ready"
            pids.update(re.findall(r"pid (\d+)", line))
        assert len(pids) == 2 and str(process.pid) in pids
        for _ in range(8):  # new connections each: the kernel spreads them over both
            with httpx2.Client() as http:
                response = http.get(f"http://127.0.0.1:{port}/page")
                assert (response.status_code, response.text) == (200, "upstream")
        children = [pid for pid in pids if pid != str(process.pid)]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.stdout is not None
        process.stdout.close()
    assert process.returncode == 0
    for pid in children:  # the first process stopped the other on its way out
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
