"""Test-only helpers shared by several test modules."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from gate.clock import ManualClock
from gate.pricing import TIER_COST
from gate.puzzle import ComposedPuzzle, PublicClue, PublicGate, PublicPuzzle, PuzzleSpec
from gate.store import MemoryStore, RedisClusterStore, RedisStore, Store

CONSONANTS = "bcdfghjklmnpqrstvwxz"

# The product's top-level packages: what the wheel ships and what tests that walk the source read.
PRODUCT_PACKAGES = (
    "gate",
    "puzzles",
    "operator_state",
    "serving",
    "middleware",
    "mcp_server",
    "admin",
)

# Every key this test run writes to the shared test Redis lives under RUN_PREFIX (one per pytest
# process); the session's end deletes and counts what is left there and fails the run if any key
# was (tests/plugins/redis_keys.py).  Processes the tests start get a Redis server of their own.
TEST_REDIS_URL = "redis://127.0.0.1:6379/15"  # GATE_TEST_REDIS_URL overrides it
RUN_PREFIX = f"rg-test:{uuid.uuid4().hex[:12]}:"


def key_prefix(kind: str = "store") -> str:
    """A fresh key namespace for one test (or fixture), under this run's prefix."""
    return f"{RUN_PREFIX}{kind}:{uuid.uuid4().hex}:"


class FixedWordSource:
    """A puzzle source at the unit seam.  Hidden words are random consonant strings: they never occur
    as words in templates or messages, so the suite-wide leak scan has no false positives."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.issued: list[str] = []

    async def compose(self, spec: PuzzleSpec) -> ComposedPuzzle:
        words = tuple(
            "".join(self.rng.choice(CONSONANTS) for _ in range(spec.length))
            for _ in range(spec.gates)
        )
        self.issued.extend(words)
        gates = tuple(
            PublicGate(
                tuple(
                    PublicClue(
                        clue_id=i,
                        domain="Letters",
                        text=f"Clue number {i} of this gate",
                        cost=TIER_COST[spec.tier],
                    )
                    for i in range(len(word))
                )
            )
            for word in words
        )
        return ComposedPuzzle(PublicPuzzle(gates, spec.tier), words)


def answers_for(source: FixedWordSource, gates: int) -> Sequence[str]:
    return source.issued[-gates:]


def free_port() -> int:
    """A loopback port nothing listens on right now (for servers started as subprocesses)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gate_workers(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    announced: str = r"pid (\d+)",
    on_stderr: bool = False,
) -> Iterator[tuple[subprocess.Popen[str], set[str]]]:
    """``gate ARGS`` started with ``--workers 2`` (ARGS say it), until both workers announced their
    pid (``announced`` on stdout, or stderr); yields the first process and both pids, and on exit
    stops the first process with SIGTERM (if it still runs).  ``stopped_together`` checks how."""
    stream = {"stderr": subprocess.PIPE} if on_stderr else {"stdout": subprocess.PIPE}
    process = subprocess.Popen(
        [sys.executable, "-m", "gate.cli", *args], env=dict(env), text=True, **stream
    )
    output = process.stderr if on_stderr else process.stdout
    assert output is not None
    try:
        pids: set[str] = set()
        with selectors.DefaultSelector() as waiting:
            waiting.register(output, selectors.EVENT_READ)
            deadline = time.monotonic() + 120
            while len(pids) < 2:  # every worker says when it serves
                assert waiting.select(deadline - time.monotonic()), "a worker did not start"
                line = output.readline()
                assert line, f"gate {args[0]} exited before both workers were ready"
                pids.update(re.findall(announced, line))
        assert len(pids) == 2 and str(process.pid) in pids, pids
        yield process, pids
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        output.close()


def process_gone(pid: str) -> bool:
    """Whether process ``pid`` has ended (a zombie not yet reaped by its new parent counts)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


def stopped_together(process: subprocess.Popen[str], pids: set[str]) -> None:
    """The way ``--workers`` promises to stop: exit status 0, the other worker gone with it."""
    assert process.returncode == 0
    assert all(process_gone(pid) for pid in pids)


@contextlib.asynccontextmanager
async def on_loopback(
    app: Any, *, lifespan: str = "off", log_level: str = "warning"
) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields its base URL.

    ``proxy_headers=False``: the gate, not uvicorn, decides whose X-Forwarded-For counts.
    """
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            lifespan=lifespan,  # type: ignore[arg-type]
            log_level=log_level,
            proxy_headers=False,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task


async def delete_keys(redis_url: str, prefix: str) -> None:
    """Delete every Redis key under ``prefix`` (a test's own namespace)."""
    from redis.asyncio import Redis

    cleaner = Redis.from_url(redis_url)
    try:
        keys = [key async for key in cleaner.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await cleaner.delete(*keys)
    finally:
        await cleaner.aclose()


@contextlib.asynccontextmanager
async def redis_store(redis_url: str, prefix: str | None = None) -> AsyncIterator[RedisStore]:
    """A real Redis store under a fresh key prefix (or ``prefix``), its keys deleted afterwards."""
    prefix = prefix or key_prefix()
    store = RedisStore.from_url(redis_url, prefix=prefix)
    try:
        yield store
    finally:
        await store.close()
        await delete_keys(redis_url, prefix)


@contextlib.asynccontextmanager
async def cluster_store(
    cluster_url: str, prefix: str | None = None
) -> AsyncIterator[RedisClusterStore]:
    """A store on the test Redis Cluster under a fresh key prefix (or ``prefix``); the cluster is
    the session's own and is dropped whole at its end, so no keys need deleting."""
    store = RedisClusterStore(cluster_url, prefix=prefix or key_prefix())
    try:
        yield store
    finally:
        await store.close()


async def open_store_of(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A fresh, empty store of the backend ``request.param`` names (memory, redis or cluster),
    for ``store`` fixtures: memory on a ``ManualClock``; Redis and the cluster under a key prefix
    of the test's own."""
    if request.param == "memory":
        memory = MemoryStore(clock=ManualClock())
        yield memory
        await memory.close()
    elif request.param == "cluster":
        async with cluster_store(request.getfixturevalue("redis_cluster_url")) as clustered:
            yield clustered
    else:
        async with redis_store(request.getfixturevalue("redis_url")) as single:
            yield single
