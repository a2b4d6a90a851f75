"""Running the dashboard: alone (``gate admin serve``) or beside a demo site."""

from __future__ import annotations

from collections.abc import Callable

from admin.app import create_admin_app
from admin.settings import AdminSettings
from gate.config import GateConfig
from gate.rules import RuleSet
from gate.runtime import open_runtime


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
    import uvicorn

    from middleware.serving import uvicorn_config

    settings = AdminSettings.from_env()
    runtime = await open_runtime(config, RuleSet([]), seed=False)
    dashboard = create_admin_app(runtime, settings)
    server = uvicorn.Server(uvicorn_config(dashboard, host, port, log_level=log_level))
    ready(
        f"Admin dashboard on http://{host}:{port}/ (create a login with `gate admin create-user`)"
    )
    try:
        await server.serve()
    finally:
        await runtime.close()


async def create_user(database_url: str, username: str, password: str) -> None:
    import admin.models  # noqa: F401 - the tables must be on the metadata before create_schema
    from admin.users import create_user as create
    from puzzles.db import create_engine, create_schema

    engine = create_engine(database_url)
    try:
        await create_schema(engine)
        await create(engine, username, password)
    finally:
        await engine.dispose()


async def change_password(database_url: str, username: str, password: str) -> None:
    import admin.models  # noqa: F401
    from admin.users import set_password
    from puzzles.db import create_engine, create_schema

    engine = create_engine(database_url)
    try:
        await create_schema(engine)
        await set_password(engine, username, password)
    finally:
        await engine.dispose()
