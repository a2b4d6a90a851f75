"""``gate admin``: the dashboard, served alone, and its logins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import typer

from gate.commands import DatabaseUrl, console, errors, load_config
from serving.runner import run_server

app = typer.Typer(help="The admin dashboard and its logins.", no_args_is_help=True)


def _admin_password(password_stdin: bool) -> str:
    import sys

    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]


@app.command("serve")
def admin_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="The store the gateways use.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the admin dashboard (prices, clients, puzzle bank, LLM pool) on its own port."""
    from admin.serve import serve_admin
    from gate.errors import GateError

    config = load_config(store_url=redis_url, database_url=database_url)
    try:
        run_server(serve_admin(config, host, port, ready=console.print))
    except GateError as exc:
        errors.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(1) from exc


def _set_login(
    action: Callable[[str, str, str], Coroutine[Any, Any, None]],
    username: str,
    database_url: str | None,
    password_stdin: bool,
    done: str,
) -> None:
    from gate.errors import ConfigError

    config = load_config(database_url=database_url)
    try:
        asyncio.run(action(config.resolved_database_url, username, _admin_password(password_stdin)))
    except ConfigError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(done)


@app.command("create-user")
def admin_create_user(
    username: Annotated[str, typer.Argument(help="The login name.")],
    database_url: DatabaseUrl = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a dashboard login (the password is stored as an Argon2id hash)."""
    from admin.serve import create_user

    _set_login(
        create_user, username, database_url, password_stdin, f"Admin user {username} created."
    )


@app.command("passwd")
def admin_passwd(
    username: Annotated[str, typer.Argument(help="The login name.")],
    database_url: DatabaseUrl = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a dashboard login's password."""
    from admin.serve import change_password

    _set_login(
        change_password, username, database_url, password_stdin, f"Password of {username} changed."
    )
