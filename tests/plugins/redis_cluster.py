"""Pytest plugin: a real three-master Redis Cluster on loopback, for the tests that run on one.

``redis_cluster_url`` starts three ``redis-server --cluster-enabled yes`` processes on free ports,
joins them with ``redis-cli --cluster create`` (no replicas), waits for ``cluster_state:ok`` and
yields a ``redis+cluster://`` URL; the servers are stopped (and so emptied) at the session's end.
A missing ``redis-server`` or ``redis-cli`` fails the tests that need it, never skips them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

MASTERS = 3
_START_TIMEOUT = 20.0


def _free_pair() -> int:
    """A loopback port that is free, with its cluster bus port (port + 10000) free too."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"the Redis Cluster tests need {name} on the PATH", pytrace=False)
    return path


class LocalCluster:
    """Three ``redis-server --cluster-enabled yes`` processes on loopback, joined as one cluster."""

    def __init__(self, folder: Path) -> None:
        self.server, self.cli = _binary("redis-server"), _binary("redis-cli")
        self.folder = folder
        self.ports = [_free_pair() for _ in range(MASTERS)]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def client(self, port: int) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

    def _start(self, port: int) -> None:
        node = self.folder / str(port)
        node.mkdir(exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [
                self.server,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node / "nodes.conf"),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(node),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def _wait(self, check: Callable[[], bool], what: str) -> None:
        import redis

        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            try:
                if check():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline or any(
                process.poll() is not None for process in self.processes.values()
            ):
                pytest.fail(f"Redis Cluster: {what} did not happen in time", pytrace=False)
            time.sleep(0.05)

    def _healthy(self) -> bool:
        for port in self.ports:
            with self.client(port) as client:
                info = client.execute_command("CLUSTER INFO")
            if isinstance(info, bytes):
                ok = b"cluster_state:ok" in info
            else:  # redis-py parses it into a dict
                ok = info.get("cluster_state") == "ok"
            if not ok:
                return False
        return True

    def start(self) -> None:
        for port in self.ports:
            self._start(port)

        def answering() -> bool:
            for port in self.ports:
                with self.client(port) as client:
                    client.ping()
            return True

        self._wait(answering, "every node answering")
        subprocess.run(
            [
                self.cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in self.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=_START_TIMEOUT,
        )
        self._wait(self._healthy, "cluster_state:ok on every node")

    def restart(self, port: int) -> None:
        """Stop the node on ``port`` and start it again: it keeps its slots (``nodes.conf``) and
        loses its data (no persistence), as a master restarted without AOF does."""
        process = self.processes.pop(port)
        process.terminate()
        process.wait(timeout=10)
        self._start(port)
        self._wait(self._healthy, f"the cluster back to ok after restarting {port}")

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.wait(timeout=10)
        self.processes.clear()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A fresh three-master Redis Cluster on loopback, for the whole session."""
    cluster = LocalCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_cluster_url(redis_cluster: LocalCluster) -> str:
    """URL of the session's Redis Cluster (``redis+cluster://``, one node as the seed)."""
    return redis_cluster.url
