"""``gate db``: the SQL schema's migrations, and the engine helper of one-shot commands."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from gate.commands import DatabaseUrl, console, errors, load_config

app = typer.Typer(
    help="The SQL schema: migrations (run `gate db upgrade` before starting new replicas).",
    no_args_is_help=True,
)


def _db_run(database_url: str | None, action, *, reads_only: bool = False):  # type: ignore[no-untyped-def]
    """Run ``action(engine)`` on the configured database as it is (no schema check first)."""
    config = load_config(database_url=database_url)
    return asyncio.run(with_engine(config, action, schema=False, reads_only=reads_only))


def database_ready(config, *, reads_only: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Make sure the SQLite file's directory exists: created for commands that write (a fresh
    install's first ``gate puzzles seed``), named in one line for those that only read (a
    mistyped GATE_STATE_DIR must not look like an empty bank).  Other databases: nothing."""
    from puzzles.db import sqlite_directory

    try:
        directory = sqlite_directory(config.resolved_database_url)
    except ValueError as exc:
        errors.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if directory is None or directory.is_dir():
        return
    if reads_only:
        errors.print(
            f"[red]no database yet: {directory} does not exist[/red] (GATE_STATE_DIR or "
            "--database-url); `gate puzzles seed` creates it",
            soft_wrap=True,  # one line, whatever the terminal's width
        )
        raise typer.Exit(1)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        errors.print(f"[red]cannot create {directory}:[/red] {exc.strerror or exc}")
        raise typer.Exit(1) from exc


@app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    database_url: DatabaseUrl = None,
) -> None:
    """Migrate the schema (a 0.1.0 database is adopted first); safe to run again."""
    from puzzles.migrations import upgrade

    before, after = _db_run(database_url, lambda engine: upgrade(engine, revision))
    if before.current == after.current:
        console.print(f"Schema already at revision {after.current}; nothing to do.")
    else:
        console.print(f"Upgraded the schema from {before.describe()} to revision {after.current}.")


@app.command("current")
def db_current(database_url: DatabaseUrl = None) -> None:
    """Show the schema revision; exit 3 when it is not the newest this release knows."""
    from puzzles.migrations import schema_state

    state = _db_run(database_url, schema_state, reads_only=True)
    status = "up to date" if state.up_to_date else f"newest is {state.head}"
    console.print(f"{state.describe()} ({status})")
    if not state.up_to_date:
        raise typer.Exit(3)


@app.command("history")
def db_history() -> None:
    """List the migration revisions of this release, newest first."""
    from puzzles.migrations import script_directory

    for script in script_directory().walk_revisions():
        console.print(f"{script.revision}  {script.doc.splitlines()[0] if script.doc else ''}")


@app.command("stamp")
def db_stamp(
    revision: Annotated[str, typer.Argument(help="The revision the schema is at already.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Record a revision without migrating (for a schema changed by hand; use with care)."""
    from puzzles.migrations import stamp

    state = _db_run(database_url, lambda engine: stamp(engine, revision))
    console.print(f"Stamped the schema at {state.describe()}.")


async def with_engine(config, action, *args, schema: bool = True, reads_only: bool = False):  # type: ignore[no-untyped-def]
    """Run ``action(engine, *args)`` (after the schema check unless ``schema`` is false);
    configuration and schema errors exit 1 with the reason, and so does a command that only
    ``reads_only`` on a database that does not exist yet (``database_ready``)."""
    from gate.errors import ConfigError
    from puzzles.db import create_engine
    from puzzles.migrations import create_schema

    database_ready(config, reads_only=reads_only)
    engine = create_engine(config.resolved_database_url)
    try:
        if schema:
            await create_schema(engine)
        return await action(engine, *args)
    except ConfigError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        await engine.dispose()
