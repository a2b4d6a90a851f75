"""Several processes on one port: ``--workers N`` of ``gate proxy``, ``gate authz`` and ``gate mcp``.

The command's own process is the first worker; it starts ``N - 1`` more by running the same
command line again (without ``--workers`` and ``--metrics-port``: one metrics listener, in the
first process) plus ``--reuse-port``.  Every worker opens its own runtime on the shared store and
binds the port with ``SO_REUSEPORT``, so the kernel spreads new connections over them; the first
process stops the others (SIGTERM, then SIGKILL after 15 s) when it stops, and on Linux the kernel
sends them SIGTERM when it dies any other way.  Processes rather than
threads: the gate's request path is Python, and one process runs one core of it.

State they share lives in the store, so a memory store (one per process) is refused before
anything starts: each worker would meter passes and consume challenges on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence

__all__ = ["SHARED_STORE_NEEDED", "listening_socket", "spawned_workers", "worker_argv"]

SHARED_STORE_NEEDED = (
    "--workers above 1 needs a shared store (--redis-url or GATE_STORE_URL=redis://...): "
    "a memory store is one per process"
)


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """The bound, listening socket; ``reuse_port`` lets sibling workers bind the same port.
    Raises OSError when the address is taken or not ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def worker_argv(argv: Sequence[str]) -> list[str]:
    """The command line of the other workers: ``argv`` without ``--workers``/``--metrics-port``
    (and their values), with ``--reuse-port``."""
    dropped = ("--workers", "--metrics-port")
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in dropped:
            skip = True  # "--name VALUE": the value goes too
        elif not arg.startswith(tuple(f"{name}=" for name in dropped)):
            kept.append(arg)
    return [*kept, "--reuse-port"]


@contextlib.contextmanager
def spawned_workers(argv: Sequence[str], count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start ``count`` ``gate`` processes with ``argv``; stop them (SIGTERM) on exit."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "gate.cli", *argv],
            env=os.environ.copy(),
            preexec_fn=_stop_with_parent if sys.platform == "linux" else None,
        )
        for _ in range(count)
    ]
    try:
        yield children
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


def _stop_with_parent() -> None:
    """In the new worker, before it runs: SIGTERM when the first process dies, however it dies
    (``kill -9`` included, which runs none of its clean-up), so no worker outlives it."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
