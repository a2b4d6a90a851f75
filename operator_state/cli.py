"""``gate apikeys``: API keys, the clients priced as themselves."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from gate.commands import DatabaseUrl, console, errors, load_config
from puzzles.cli.db import with_engine

app = typer.Typer(help="API keys: clients priced as themselves, with a tier.", no_args_is_help=True)


@app.command("create")
def apikeys_create(
    name: Annotated[str, typer.Argument(help="Who holds the key (letters, digits, . _ -).")],
    tier: Annotated[
        str, typer.Option(help="A tier defined in the policy (discounts, allowances).")
    ] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    from operator_state.apikeys import create_api_key

    key = asyncio.run(
        with_engine(load_config(database_url=database_url), create_api_key, name, tier)
    )
    console.print(
        f"API key for {name}: [bold]{key}[/bold]\nSend it as 'Gate-Key: <key>'. It cannot be shown again."
    )


@app.command("list")
def apikeys_list(database_url: DatabaseUrl = None) -> None:
    """List key holders, tiers and whether the key is revoked."""
    from operator_state.apikeys import list_api_keys

    config = load_config(database_url=database_url)
    records = asyncio.run(with_engine(config, list_api_keys, reads_only=True))
    table = Table(title="API keys")
    for column in ("name", "tier", "state"):
        table.add_column(column)
    for record in records:
        table.add_row(record.name, record.tier or "-", "revoked" if record.revoked else "active")
    console.print(table)


@app.command("revoke")
def apikeys_revoke(
    name: Annotated[str, typer.Argument()], database_url: DatabaseUrl = None
) -> None:
    """Revoke a key; running gates stop honouring it within 30 seconds."""
    from operator_state.apikeys import revoke_api_key

    if not asyncio.run(with_engine(load_config(database_url=database_url), revoke_api_key, name)):
        errors.print(f"[red]no active key named {name!r}[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked the key of {name}.")
