"""Shared fixtures.

Redis is a required test service: when it is missing the run fails (never skips), so a green run
always means the Redis backend was exercised.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import gate.challenges
from gate.store import Store

pytest_plugins = [
    "tests.plugins.sql",
    "tests.plugins.leaks",
    "tests.plugins.model",
    "tests.plugins.browser",
    "tests.plugins.redis_keys",
    "tests.plugins.redis_cluster",
]


# Most tests answer a puzzle the moment they get it; the solve-time floor would hold each of them
# for seconds.  They run with the floor off, from the start of the session (fixtures of any scope
# build gates), and gate processes they start inherit the environment; tests of the floor itself
# ask for the product's defaults with the ``solve_floor`` fixture.
os.environ.setdefault("GATE_DECODE_RATE", "1000000000")
os.environ.setdefault("GATE_HUMAN_FLOOR", "0")
_FLOOR_DEFAULTS = (gate.challenges.DECODE_RATE, gate.challenges.HUMAN_FLOOR)
gate.challenges.DECODE_RATE, gate.challenges.HUMAN_FLOOR = math.inf, 0.0


@pytest.fixture
def solve_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The product's own floor defaults (250 tokens/s, 5 s for people) for this test."""
    monkeypatch.setattr(gate.challenges, "DECODE_RATE", _FLOOR_DEFAULTS[0])
    monkeypatch.setattr(gate.challenges, "HUMAN_FLOOR", _FLOOR_DEFAULTS[1])


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the test Redis (``GATE_TEST_REDIS_URL``; default db 15 on localhost)."""
    import redis

    from tests.support import TEST_REDIS_URL

    url = os.environ.get("GATE_TEST_REDIS_URL", TEST_REDIS_URL)
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is required for the test suite but {url} is unreachable ({exc}).\n"
            "Start one with:\n"
            '  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" '
            "--appendonly no\n"
            "or point GATE_TEST_REDIS_URL at a running server.",
            pytrace=False,
        )
    finally:
        client.close()
    return url


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A fresh, empty store of each backend.

    Memory runs on a ``ManualClock`` (advance it through ``store.clock``), so its expiry tests need
    no sleeping; Redis keeps its own time, so its tests use short real TTLs.  Each Redis test gets
    a unique key prefix and its keys are deleted afterwards.  A module that also runs on Redis
    Cluster overrides this fixture with a ``"cluster"`` param (tests/test_store_conformance.py).
    """
    from tests.support import open_store_of

    async for store_ in open_store_of(request):
        yield store_


async def _seed(url: str) -> None:
    from puzzles.bank import ClueBank
    from puzzles.db import create_engine
    from puzzles.knowledge import builtin_clues
    from puzzles.migrations import create_schema
    from tests.support import CONSONANTS

    rng = random.Random(11)
    # Consonant hidden words keep the suite-wide leak scan free of false positives.
    words = {"".join(rng.choice(CONSONANTS) for _ in range(rng.randint(4, 12))) for _ in range(400)}
    engine = create_engine(url)
    try:
        await create_schema(engine)
        await ClueBank(engine).seed(builtin_clues(), sorted(words))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def seeded_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory whose SQLite bank holds the built-in clues and consonant hidden words."""
    state = tmp_path_factory.mktemp("gate-state")
    asyncio.run(_seed(f"sqlite+aiosqlite:///{state / 'gate.db'}"))
    return state


@pytest.fixture(autouse=True)
def _seeded_operator_state_cleared(request: pytest.FixtureRequest) -> None:
    """The seeded bank is shared by the session, but what operators store in it (policy versions,
    identity overrides) must not reach the next test: a runtime applies the newest stored policy,
    so a policy file one test imported would replace the next test's rules."""
    if "seeded_state" not in request.fixturenames:
        return
    import contextlib
    import sqlite3

    state: Path = request.getfixturevalue("seeded_state")
    db = sqlite3.connect(state / "gate.db")
    try:
        with db:
            for table in ("policy_versions", "identity_overrides", "identity_actions"):
                # A table not created yet holds nothing.
                with contextlib.suppress(sqlite3.OperationalError):
                    db.execute(f"DELETE FROM {table}")
    finally:
        db.close()
