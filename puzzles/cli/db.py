"""``gate db``: the SQL schema's migrations, and the engine helper of one-shot commands."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from gate.commands import DatabaseUrl, console, load_config

app = typer.Typer(
    help="The SQL schema: migrations (run `gate db upgrade` before starting new replicas).",
    no_args_is_help=True,
)


def _db_run(database_url: str | None, action):
    """Run ``action(engine)`` on the configured database as it is (no schema check first)."""
    return asyncio.run(with_engine(load_config(database_url=database_url), action, schema=False))


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

    state = _db_run(database_url, schema_state)
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


async def with_engine(config, action, *args, schema: bool = True):
    """Run ``action(engine, *args)`` (after the schema check unless ``schema`` is false);
    configuration and schema errors exit 1 with the reason."""
    from gate.errors import ConfigError
    from puzzles.db import create_engine
    from puzzles.migrations import create_schema

    engine = create_engine(config.resolved_database_url)
    try:
        if schema:
            await create_schema(engine)
        return await action(engine, *args)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        await engine.dispose()
