"""Running the dashboard: alone (``gate admin serve``) or beside a demo site."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from admin.app import DEFAULT_PREFIX, AdminApp, create_admin_app, mount_admin
from admin.settings import AdminSettings
from gate.config import GateConfig
from gate.rules import RuleSet
from serving.runtime import Runtime, open_runtime


async def serve_admin(
    config: GateConfig,
    host: str,
    port: int,
    *,
    ready: Callable[[str], None] = print,
    log_level: str = "info",
) -> None:
    """Serve the dashboard on ``host:port`` over the gate's store and database.

    The dashboard runs the stored policy like any replica (its price previews use it); before any
    is stored it has no rules of its own, so previews allow everything.
    """
    from serving.runner import serve

    settings = AdminSettings.from_env()
    runtime = await open_runtime(config, RuleSet([]), seed=False)
    dashboard = create_admin_app(runtime, settings)
    ready(
        f"Admin dashboard on http://{host}:{port}/ (create a login with `gate admin create-user`)"
    )
    try:
        await serve(dashboard, host, port, log_level=log_level)
    finally:
        await runtime.close()


def _engine(database_url: str) -> AsyncEngine:
    """An engine for a one-shot command; a SQLite file's folder is created like a gate's state."""
    from sqlalchemy.engine import make_url

    import operator_state.models  # noqa: F401 - the tables must be on the metadata before create_schema
    from puzzles.db import create_engine

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(database_url)


async def _on_users(
    database_url: str, change: Callable[[AsyncEngine, str, str], Awaitable[object]], *args: str
) -> None:
    from puzzles.migrations import create_schema

    engine = _engine(database_url)
    try:
        await create_schema(engine)
        await change(engine, *args)
    finally:
        await engine.dispose()


async def create_user(database_url: str, username: str, password: str) -> None:
    from operator_state.users import create_user as create

    await _on_users(database_url, create, username, password)


async def change_password(database_url: str, username: str, password: str) -> None:
    from operator_state.users import set_password

    await _on_users(database_url, set_password, username, password)


async def with_dashboard(
    site: ASGIApp, runtime: Runtime, prefix: str = DEFAULT_PREFIX
) -> tuple[ASGIApp, AdminApp]:
    """``site`` with the dashboard mounted under ``prefix``, sharing ``runtime``; started (stop
    it with ``AdminApp.stop`` before closing the runtime)."""
    dashboard = create_admin_app(runtime)
    await dashboard.start()
    return mount_admin(site, dashboard, prefix), dashboard
