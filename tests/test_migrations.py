"""Schema migrations on SQLite and PostgreSQL: from empty, from release 0.1.0, and against the models.

Every test runs on both databases (``database_url`` from tests/plugins/sql.py: a fresh SQLite file,
or a PostgreSQL schema of its own).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gate.cli import app
from puzzles import migrations
from puzzles.db import auto_upgrades, create_engine
from puzzles.migrations import BASELINE, SchemaError, create_schema, prepare_schema
from tests.support import PRODUCT_PACKAGES

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts=migrations.compare_options())
    return compare_metadata(context, migrations.target_metadata())


async def differences(engine: AsyncEngine) -> list[object]:
    async with engine.connect() as connection:
        return await connection.run_sync(_differences)


async def make_v010_database(engine: AsyncEngine) -> None:
    """What release 0.1.0 left behind: its create_all DDL (no alembic_version) and some rows."""
    dialect = engine.dialect.name
    statements = (DATA / f"schema-v0.1.0.{dialect}.sql").read_text().split(";\n")
    async with engine.begin() as connection:
        for statement in statements:
            sql = "\n".join(
                line for line in statement.splitlines() if not line.startswith("--")
            ).strip()
            if sql:
                await connection.exec_driver_sql(sql)
        await connection.execute(
            text(
                "INSERT INTO clues (domain, text, text_key, answer, initial, tier, source, "
                "expected_tokens) VALUES ('geography', 'a capital', 'a capital', 'Paris', 'P', 1, "
                "'builtin', 150)"
            )
        )
        await connection.execute(text("INSERT INTO words (word, length) VALUES ('game', 4)"))
        await connection.execute(
            text("INSERT INTO api_keys (name, key_hash, tier) VALUES ('acme', :hash, '')"),
            {"hash": "f" * 64},
        )


async def test_migrations_from_empty_reach_exactly_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        before, after = await migrations.upgrade(engine)
        assert before.empty and after.up_to_date and after.current == migrations.head_revision()
        # Fails when a model gains a table, column, index or constraint without a revision.
        assert await differences(engine) == []
    finally:
        await engine.dispose()


async def test_a_new_database_made_in_one_step_matches_the_migrations(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await create_schema(engine)  # create_all + stamp: the fast path for an empty database
        state = await migrations.schema_state(engine)
        assert state.up_to_date
        assert await differences(engine) == []
        await create_schema(engine)  # a second run has nothing to do
    finally:
        await engine.dispose()


async def test_a_release_0_1_0_database_is_adopted_and_upgraded_with_its_rows(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await make_v010_database(engine)
        state = await migrations.schema_state(engine)
        assert state.legacy and state.tables == migrations.V010_TABLES
        before, after = await migrations.upgrade(engine)
        assert before.legacy and after.up_to_date
        assert await differences(engine) == []
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT answer FROM clues"))).scalars().all()
            keys = (await connection.execute(text("SELECT name FROM api_keys"))).scalars().all()
        assert rows == ["Paris"] and keys == ["acme"]
    finally:
        await engine.dispose()


async def test_services_refuse_an_old_schema_unless_they_may_upgrade_it(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await make_v010_database(engine)
        with pytest.raises(SchemaError, match="gate db upgrade"):
            await prepare_schema(engine, auto_upgrade=False)
        await prepare_schema(engine, auto_upgrade=True)
        assert (await migrations.schema_state(engine)).up_to_date
        await prepare_schema(engine, auto_upgrade=False)  # now current: starts
    finally:
        await engine.dispose()


async def test_a_schema_from_a_newer_release_is_never_touched(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrations.upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
        for auto_upgrade in (False, True):
            with pytest.raises(SchemaError, match="f00d"):
                await prepare_schema(engine, auto_upgrade=auto_upgrade)
        with pytest.raises(SchemaError):
            await migrations.upgrade(engine)
    finally:
        await engine.dispose()


async def test_a_partial_0_1_0_schema_is_refused_rather_than_guessed(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await make_v010_database(engine)
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE factory_items"))
        with pytest.raises(SchemaError, match="factory_items"):
            await migrations.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_replicas_upgrading_at_once_migrate_once(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrations.upgrade(engine) for engine in engines))
        assert sum(1 for before, _ in results if before.empty) == 1
        assert all(after.up_to_date for _, after in results)
    finally:
        for engine in engines:
            await engine.dispose()


def test_the_auto_upgrade_setting_upgrades_sqlite_by_default_and_postgresql_only_when_asked() -> (
    None
):
    assert auto_upgrades("sqlite", "sqlite:///gate.db")
    assert not auto_upgrades("sqlite", "postgresql://db/gate")
    assert auto_upgrades("always", "postgresql://db/gate")
    assert not auto_upgrades("never", "sqlite:///gate.db")


def test_the_baseline_revision_is_the_first_and_history_lists_it() -> None:
    revisions = list(migrations.script_directory().walk_revisions())
    assert revisions[-1].revision == BASELINE and revisions[-1].down_revision is None
    result = runner.invoke(app, ["db", "history"])
    assert result.exit_code == 0 and BASELINE in result.output


def test_gate_db_commands_upgrade_report_and_stamp(tmp_path: Path) -> None:
    url = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}"]
    engine = create_engine(url[1])
    asyncio.run(make_v010_database(engine))
    asyncio.run(engine.dispose())

    current = runner.invoke(app, ["db", "current", *url])
    assert current.exit_code == 3 and "0.1.0" in current.output
    upgraded = runner.invoke(app, ["db", "upgrade", *url])
    assert upgraded.exit_code == 0, upgraded.output
    assert "Upgraded the schema from release 0.1.0" in upgraded.output
    again = runner.invoke(app, ["db", "upgrade", *url])
    assert again.exit_code == 0 and "nothing to do" in again.output
    current = runner.invoke(app, ["db", "current", *url])
    assert current.exit_code == 0 and "up to date" in current.output
    unknown = runner.invoke(app, ["db", "stamp", "nope", *url])
    assert unknown.exit_code == 1 and "nope" in unknown.output
    stamped = runner.invoke(app, ["db", "stamp", BASELINE, *url])
    assert stamped.exit_code == 0 and f"revision {BASELINE}" in stamped.output


def test_revisions_ship_with_the_package() -> None:
    folder = Path(migrations.__file__).parent
    assert (folder / "versions" / "__init__.py").is_file()  # a package: wheels carry it
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '"migrations/script.py.mako"' in pyproject and '"alembic' in pyproject


def test_a_service_on_an_old_schema_stops_and_names_the_fix(tmp_path: Path) -> None:
    """The real `gate proxy` process, told never to migrate, refuses a 0.1.0 database."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}"
    engine = create_engine(url)
    asyncio.run(make_v010_database(engine))
    asyncio.run(engine.dispose())
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env.update(GATE_STATE_DIR=str(tmp_path), GATE_DATABASE_URL=url, GATE_DB_AUTO_UPGRADE="never")
    result = subprocess.run(
        [sys.executable, "-m", "gate.cli", "proxy", "--upstream", "http://127.0.0.1:9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = " ".join((result.stdout + result.stderr).split())  # rich wraps long lines
    assert result.returncode == 1, output
    assert "release 0.1.0" in output and "gate db upgrade" in output


def test_every_module_with_tables_is_on_the_migrations_metadata() -> None:
    """A model module the migrations never import would be invisible to the drift test: every
    module that defines tables is a ``reasoning_gate.models`` entry point, and only those."""
    import ast

    root = Path(__file__).parents[1]
    defining = set()
    for top in PRODUCT_PACKAGES:
        for path in (root / top).rglob("*.py"):
            tree = ast.parse(path.read_text())
            if any(
                isinstance(node, ast.ClassDef)
                and any(isinstance(base, ast.Name) and base.id == "Base" for base in node.bases)
                for node in ast.walk(tree)
            ):
                defining.add(".".join(path.relative_to(root).with_suffix("").parts))
    assert defining == set(migrations.model_modules())


def test_a_stale_install_without_the_models_entry_points_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Installed metadata from before the ``reasoning_gate.models`` group would give a schema
    without the operator's tables; the migrations refuse it and name the fix instead."""
    monkeypatch.setattr(migrations, "entry_points", lambda group: ())
    with pytest.raises(SchemaError, match=r"reasoning_gate\.models.*make install"):
        migrations.model_modules()
