"""``serving.runner.serve``, the one way every gate server starts: a port it cannot listen on is a
``ServeError`` naming the address (never an ExceptionGroup out of its task group), and each
command turns it into one ``cannot start`` line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.runner import ServeError, serve


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


async def test_a_port_in_use_is_a_serve_error_naming_the_address(taken_port: int) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never served")

    with pytest.raises(ServeError, match=f"cannot listen on 127.0.0.1:{taken_port}$"):
        await serve(app, "127.0.0.1", taken_port, lifespan="off", log_level="critical")


@pytest.mark.parametrize(
    "command", [["proxy", "--upstream", "http://127.0.0.1:9"], ["authz"]], ids=["proxy", "authz"]
)
def test_gate_commands_on_a_port_in_use_say_cannot_start_without_a_traceback(
    command: list[str], taken_port: int, tmp_path: Path
) -> None:
    env = {**os.environ, "GATE_STATE_DIR": str(tmp_path), "GATE_STORE_URL": "memory://"}
    env["GATE_TRUSTED_PROXIES"] = "127.0.0.1/32"
    result = subprocess.run(
        [sys.executable, "-m", "gate.cli", *command, "--port", str(taken_port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert f"cannot start: cannot listen on 127.0.0.1:{taken_port}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
