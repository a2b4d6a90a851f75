"""Alembic environment of the gate's schema.

The gate runs migrations through :mod:`puzzles.migrations` (``gate db upgrade``), which opens an
async engine on the operator's ``GATE_DATABASE_URL`` and hands its connection here
(``config.attributes``), so the URL rewriting, SQLite pragmas and PostgreSQL ``options`` of
:mod:`puzzles.db` apply unchanged.
"""

from __future__ import annotations

from alembic import context

from puzzles.migrations import configure_context

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise SystemExit("run the migrations with `gate db upgrade` (offline --sql is not supported)")
configure_context(context, connection)  # imports every model module before autogenerate compares
with context.begin_transaction():
    context.run_migrations()
