"""Engine and session set-up for the SQL side of the gate (clue bank, word list, policies, ...).

The gate is async end to end, so every URL is rewritten to an async driver: an operator can paste
the ``postgresql://...`` URL their platform hands out, or a ``sqlite:///...`` path, and still get
asyncpg or aiosqlite instead of a blocking driver that would stall the event loop.

SQLite is the zero-configuration default.  Each new SQLite connection switches to WAL (readers never
block the writer, which matters when the gate serves while a batch job imports clues) and turns on
foreign keys (SQLite leaves them off unless asked on every connection).

PostgreSQL URLs may carry libpq's ``options=-c name=value`` parameter (e.g. to pick a schema with
``-csearch_path=tenant``); asyncpg does not understand it, so it is translated to asyncpg's
``server_settings``.  This keeps a plain URL sufficient to point the gate at a schema.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gate.settings import setting, variable

DEFAULT_URL = "sqlite+aiosqlite:///./gate.db"
URL_ENV = variable("database_url")

_ASYNC_DRIVERS = {"postgresql": "asyncpg", "postgres": "asyncpg", "sqlite": "aiosqlite"}


def resolve_url(url: str | None) -> URL:
    """The async-driver form of ``url`` (else ``$GATE_DATABASE_URL``, else the default file)."""
    raw = url or setting("database_url") or DEFAULT_URL
    parsed = make_url(raw)
    backend = parsed.drivername.partition("+")[0]
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use postgresql:// or sqlite://")
    name = "postgresql" if backend == "postgres" else backend
    wanted = f"{name}+{_ASYNC_DRIVERS[backend]}"
    if parsed.drivername != wanted:
        # An explicit sync driver (psycopg2, pysqlite) is replaced too: it would block the loop.
        parsed = parsed.set(drivername=wanted)
    return parsed


def sqlite_directory(url: str | None) -> Path | None:
    """The directory a SQLite file database lives in (None for other databases or memory)."""
    resolved = resolve_url(url)
    if resolved.get_backend_name() != "sqlite" or resolved.database in (None, "", ":memory:"):
        return None
    return Path(resolved.database).expanduser().absolute().parent


def _server_settings_from_options(url: URL) -> tuple[URL, dict[str, str]]:
    """Move libpq ``options=-c key=value ...`` out of the URL into a ``server_settings`` dict."""
    options = url.query.get("options")
    if options is None:
        return url, {}
    if isinstance(options, tuple):
        options = " ".join(options)
    settings: dict[str, str] = {}
    tokens = shlex.split(options)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "-c" and i + 1 < len(tokens):
            token, i = tokens[i + 1], i + 1
        elif token.startswith("-c") or token.startswith("--"):
            token = token[2:]
        else:
            raise ValueError(f"unsupported PostgreSQL option {token!r}: only -c name=value is")
        name, sep, value = token.partition("=")
        if not sep:
            raise ValueError(f"PostgreSQL option {token!r} must be name=value")
        settings[name.replace("-", "_")] = value
        i += 1
    return url.difference_update_query(["options"]), settings


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(
            "PRAGMA synchronous=NORMAL"
        )  # safe with WAL; a crash loses no committed data
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def create_engine(url: str | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url``; ``None`` means ``$GATE_DATABASE_URL`` or ``./gate.db``.

    Extra keyword arguments go to :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    resolved = resolve_url(url)
    if resolved.get_backend_name() == "postgresql":
        resolved, settings = _server_settings_from_options(resolved)
        if settings:
            connect_args = dict(kwargs.pop("connect_args", {}))
            merged = {**settings, **connect_args.get("server_settings", {})}
            connect_args["server_settings"] = merged
            kwargs["connect_args"] = connect_args
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(resolved, **kwargs)
    if resolved.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
    return engine


AUTO_UPGRADE_MODES = ("sqlite", "always", "never")


def auto_upgrades(mode: str, url: str) -> bool:
    """Whether a service started with ``GATE_DB_AUTO_UPGRADE=mode`` migrates ``url`` itself.

    ``sqlite`` (the default): the embedded SQLite file is upgraded on start, a shared PostgreSQL
    database is only checked (its operator runs ``gate db upgrade`` once, before the replicas).
    """
    if mode not in AUTO_UPGRADE_MODES:
        raise ValueError(f"unknown auto-upgrade mode {mode!r}")
    if mode == "sqlite":
        return resolve_url(url).get_backend_name() == "sqlite"
    return mode == "always"


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (no implicit lazy reloads in async)."""
    return async_sessionmaker(engine, expire_on_commit=False)
