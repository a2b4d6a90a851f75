"""Schema migrations: Alembic revisions run on the gate's own async engines.

A database is in one of four states, and every entry point starts by reading which:

- **empty**: no table of ours yet;
- **legacy**: the tables of release 0.1.0 (made by ``metadata.create_all``) without an
  ``alembic_version`` table: it is adopted by stamping the baseline revision, then upgraded;
- **at a revision** this code knows (current or older);
- **ahead**: at a revision this code does not know (a newer release migrated it): never touched.

On PostgreSQL every upgrade holds a transaction-level advisory lock keyed by the schema, so replicas
that start together run the migrations once; the DDL is transactional there, so a failed upgrade
leaves the previous revision in place.  SQLite commits DDL as it goes (Alembic's SQLite support is
not transactional), which is one reason production runs on PostgreSQL.

One history covers the whole database: the bank's tables (``puzzles.models``) and those of the
packages above it (``operator_state.models``), all on ``puzzles.models.Base``.  Each package
declares its model module as a ``reasoning_gate.models`` entry point in ``pyproject.toml``, and
:func:`target_metadata` loads every one, so the metadata (and autogenerate) covers the whole schema
while ``puzzles`` never names a package above it; ``tests/test_migrations.py`` checks the entry
points are exactly the modules that define tables.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gate.errors import ConfigError

BASELINE: Final = "0001"
# The tables release 0.1.0 created (puzzles/models.py at commit 593b6a1; tests/data holds its DDL).
V010_TABLES: Final = frozenset(
    {"clues", "words", "policy_changes", "api_keys", "factory_jobs", "factory_items"}
)
VERSION_TABLE: Final = "alembic_version"
# Each package with tables names its model module under this group (``pyproject.toml``).
MODELS_GROUP: Final = "reasoning_gate.models"
_LOCK_KEY: Final = "reasoning-gate/migrations/"
_CAST: Final = re.compile(r"::[a-z ]+(\(\d+\))?$", re.IGNORECASE)


class SchemaError(ConfigError):
    """The database schema is not one this release can run on (the message says what to do)."""


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # the revision recorded in alembic_version
    head: str  # the newest revision this code knows
    tables: frozenset[str]  # our tables present (alembic_version excluded)
    known: bool  # current is None or a revision this code knows

    @property
    def empty(self) -> bool:
        return self.current is None and not self.tables

    @property
    def legacy(self) -> bool:
        return self.current is None and bool(self.tables)

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.empty:
            return "empty (no tables)"
        if self.legacy:
            return "release 0.1.0 (tables without a revision)"
        suffix = "" if self.known else " (unknown to this release: a newer one migrated it)"
        return f"revision {self.current}{suffix}"


def model_modules() -> tuple[str, ...]:
    """The model modules the packages declare (``reasoning_gate.models`` entry points)."""
    names = tuple(sorted(entry.value for entry in entry_points(group=MODELS_GROUP)))
    if "puzzles.models" not in names:  # the installed metadata predates the group
        raise SchemaError(
            f"no {MODELS_GROUP} entry points are installed, so the schema would miss tables: "
            "reinstall the project (`make install`, or `pip install -e .`)"
        )
    return names


@functools.cache
def target_metadata() -> MetaData:
    """The one ``MetaData`` of every model, with all declared model modules imported."""
    model_modules()
    for entry in entry_points(group=MODELS_GROUP):
        entry.load()
    from puzzles.models import Base

    return Base.metadata


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision(script: ScriptDirectory | None = None) -> str:
    head = (script or script_directory()).get_current_head()
    if head is None:  # pragma: no cover - the baseline always exists
        raise SchemaError("no migration revisions found")
    return head


def configure_context(context: Any, connection: Connection) -> None:
    """Options shared by every run (used by env.py)."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        # SQLite alters a table by copying it; batch mode does that for every later revision.
        render_as_batch=connection.dialect.name == "sqlite",
        **compare_options(),
    )


def compare_options() -> dict[str, Any]:
    """How autogenerate and the drift test compare the database with the models."""
    return {"compare_type": True, "compare_server_default": _server_default_differs}


def _literal(default: str) -> str:
    default = _CAST.sub("", default.strip())  # PostgreSQL: 'x'::character varying
    while default.startswith("(") and default.endswith(")"):
        default = default[1:-1].strip()
    return default.strip("'\"")


def _server_default_differs(
    _context: Any,
    _inspected_column: Any,
    _metadata_column: Any,
    inspected: str | None,
    _metadata_default: Any,
    rendered: str | None,
) -> bool | None:
    """Compare defaults by value: SQLite reflects ``DEFAULT ''`` as ``('')``, PostgreSQL adds casts."""
    if inspected is None or rendered is None:
        return None  # Alembic's own rule: a default added or dropped is a difference
    return _literal(inspected) != _literal(rendered)


def _state(connection: Connection) -> SchemaState:
    names = set(inspect(connection).get_table_names())
    current = MigrationContext.configure(connection).get_current_revision()
    script = script_directory()
    known = current is None or _knows(script, current)
    ours = frozenset(names & set(target_metadata().tables) | names & V010_TABLES)
    return SchemaState(current, head_revision(script), ours, known)


def _knows(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown id
        return False


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key || current_schema()))"),
            {"key": _LOCK_KEY},
        )


def _run_command(connection: Connection, name: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    try:
        getattr(command, name)(config, revision)
    except CommandError as exc:  # e.g. an unknown target revision
        raise SchemaError(str(exc)) from exc


def _adopt_legacy(connection: Connection, state: SchemaState) -> None:
    missing = V010_TABLES - state.tables
    if missing:
        raise SchemaError(
            "the database has some tables of release 0.1.0 but not "
            f"{', '.join(sorted(missing))}; restore it from a backup or start from an empty one"
        )
    _run_command(connection, "stamp", BASELINE)


def _upgrade(connection: Connection, revision: str) -> tuple[SchemaState, SchemaState]:
    _lock(connection)
    before = _state(connection)
    if not before.known:
        raise SchemaError(
            f"the database is at {before.describe()}; run this release's migrations only on "
            "databases it knows"
        )
    if before.legacy:
        _adopt_legacy(connection, before)
    _run_command(connection, "upgrade", revision)
    return before, _state(connection)


def _fresh(connection: Connection) -> SchemaState:
    """Bring the schema to head; an empty database gets the models' tables in one step."""
    _lock(connection)
    state = _state(connection)
    if state.up_to_date:
        return state
    if state.empty:
        # Alembic's recipe for new databases: create everything and stamp head.  The suite checks
        # that this and the migrations give the same schema (tests/test_migrations.py).
        target_metadata().create_all(connection)
        _run_command(connection, "stamp", "head")
        return _state(connection)
    return _upgrade(connection, "head")[1]


async def schema_state(engine: AsyncEngine) -> SchemaState:
    async with engine.connect() as connection:
        return await connection.run_sync(_state)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[SchemaState, SchemaState]:
    """Run the migrations up to ``revision``; returns the states before and after."""
    async with engine.begin() as connection:
        return await connection.run_sync(_upgrade, revision)


async def stamp(engine: AsyncEngine, revision: str) -> SchemaState:
    """Record ``revision`` without running anything (for a schema brought there by hand)."""

    def run(connection: Connection) -> SchemaState:
        _lock(connection)
        _run_command(connection, "stamp", revision)
        return _state(connection)

    async with engine.begin() as connection:
        return await connection.run_sync(run)


async def bring_to_head(engine: AsyncEngine) -> SchemaState:
    """Make the schema current whatever its state (an unknown revision is refused)."""
    async with engine.begin() as connection:
        return await connection.run_sync(_fresh)


async def ensure_schema(engine: AsyncEngine, *, auto_upgrade: bool) -> SchemaState:
    """The check every long-running service makes before it serves.

    With ``auto_upgrade`` an empty or older schema is brought to head; without, anything but the
    current revision is refused with the command that fixes it.
    """
    if auto_upgrade:
        return await bring_to_head(engine)
    state = await schema_state(engine)
    if state.up_to_date:
        return state
    if not state.known:
        raise SchemaError(
            f"the database is at {state.describe()}; upgrade this service to the release that "
            "migrated it"
        )
    raise SchemaError(
        f"the database schema is {state.describe()} but this release needs revision "
        f"{state.head}: run `gate db upgrade` (with the same GATE_DATABASE_URL) first"
    )


async def create_schema(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision, whatever state it is in.

    For one-shot tools, tests and the embedded default; long-running services call
    :func:`prepare_schema`, which may only check.
    """
    await bring_to_head(engine)


async def prepare_schema(engine: AsyncEngine, *, auto_upgrade: bool) -> None:
    """Upgrade the schema, or refuse (``SchemaError``) unless it is at the newest revision."""
    await ensure_schema(engine, auto_upgrade=auto_upgrade)
