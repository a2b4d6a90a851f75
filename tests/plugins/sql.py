"""Pytest plugin: every SQL test runs on both SQLite and PostgreSQL.

``database_url`` is parametrised over ``sqlite`` (a fresh file under ``tmp_path``) and
``postgresql`` (``GATE_TEST_POSTGRES_URL``, default the local ``test`` database).  Each PostgreSQL
test gets its own schema, selected through the URL's libpq ``options=-csearch_path=...`` (which
``puzzles.db.create_engine`` turns into asyncpg ``server_settings``), so tests never see each other's
rows and code under test needs nothing but the URL.  The schema is dropped afterwards.

PostgreSQL is a required test service: when it is unreachable the run fails (never skips), so a
green run always means both databases were exercised.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from puzzles.db import create_engine
from puzzles.migrations import create_schema

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The base PostgreSQL URL of the test server (no schema selected)."""
    return os.environ.get("GATE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


async def _admin_connect(url: str):  # -> asyncpg.Connection
    import asyncpg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        error = f"{exc.__class__.__name__}: {exc}"
    pytest.fail(
        f"PostgreSQL is required for the test suite but {make_url(url)!r} is unreachable "
        f"({error}).\n"
        "Start it with:\n"
        "  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"
        "or point GATE_TEST_POSTGRES_URL at a running server (trust auth, database 'test').",
        pytrace=False,
    )


@pytest_asyncio.fixture
async def postgres_server_url() -> str:
    """The base URL of the test PostgreSQL server (no schema chosen); fails when unreachable."""
    url = postgres_url()
    await (await _admin_connect(url)).close()
    return url


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """A URL of an empty, isolated database of each kind (no tables yet)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}"
        return

    base = postgres_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = await _admin_connect(base)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.close()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        admin = await _admin_connect(base)
        try:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await admin.close()


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``database_url`` with the schema created; disposed after the test."""
    eng = create_engine(database_url)
    try:
        await create_schema(eng)
        yield eng
    finally:
        await eng.dispose()
