"""Alembic environment of the gate's schema.

The gate runs migrations through :mod:`puzzles.migrations`, which opens an async engine on the
operator's ``GATE_DATABASE_URL`` and hands its connection here (``config.attributes``), so the URL
rewriting, SQLite pragmas and PostgreSQL ``options`` of :mod:`puzzles.db` apply unchanged.  Run by
the ``alembic`` command itself (``-x url=...`` or ``GATE_DATABASE_URL``), it opens the same kind of
async engine: the async template of Alembic.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from puzzles.migrations import configure_context, target_metadata


def _run(connection: Connection) -> None:
    configure_context(context, connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    from puzzles.db import create_engine

    url = context.get_x_argument(as_dictionary=True).get("url")
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run `gate db upgrade`")
target_metadata()  # every model module is imported before autogenerate compares
given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_with_own_engine())
