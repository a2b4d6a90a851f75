"""Pytest plugin: the suite leaves the Redis it is pointed at as it found it.

Tests in this process write only under ``tests.support.RUN_PREFIX`` and delete their keys; at the
session's end whatever is still under that prefix is counted, deleted, and fails the run, so a test
that forgets its keys (which would otherwise linger for their TTL, up to 30 days) is caught the
first time it runs.  Gate processes a test starts (``gate demo``, replicas) write with the product's
default prefix, so they get a Redis server of their own (``own_redis_url``), never the shared one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import RUN_PREFIX, TEST_REDIS_URL, free_port

_counts: dict[str, int | None] = {}


def _redis_url() -> str:
    return os.environ.get("GATE_TEST_REDIS_URL", TEST_REDIS_URL)


def _client() -> Any:
    import redis

    return redis.Redis.from_url(_redis_url(), socket_connect_timeout=2, socket_timeout=5)


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        with _client() as client:
            _counts["before"] = int(client.dbsize())
    except Exception:  # no Redis: the redis_url fixture fails the tests that need it
        _counts["before"] = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _counts.get("before") is None:
        return
    with _client() as client:
        left = list(client.scan_iter(match=f"{RUN_PREFIX}*", count=1000))
        if left:
            client.delete(*left)
        _counts["left"] = len(left)
        _counts["after"] = int(client.dbsize())
    _counts["sample"] = left[:5]  # type: ignore[assignment]
    if left and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _counts.get("before") is None or "left" not in _counts:
        return
    line = (
        f"Redis {_redis_url()}: {_counts['before']} keys before the run, {_counts['after']} after; "
        f"{_counts['left']} left under this run's prefix {RUN_PREFIX}"
    )
    if _counts["left"]:
        terminalreporter.write_line(
            f"{line}: FAILED, tests left keys behind (now deleted), e.g. {_counts['sample']}",
            red=True,
        )
    else:
        terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def own_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private, empty Redis server for the gate processes a test module starts; stopped (and
    so emptied) at the module's end."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "these tests need redis-server on the PATH (scripts/services.sh)", pytrace=False
        )
    folder: Path = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            with redis.Redis.from_url(url, socket_connect_timeout=1) as client:
                client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"redis-server did not start on port {port}", pytrace=False)
            time.sleep(0.05)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
