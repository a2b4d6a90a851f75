"""Admin users: Argon2id password hashes in SQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gate.errors import ConfigError
from operator_state.models import AdminUser
from puzzles.models import table_of

_HASHER = PasswordHasher()  # argon2-cffi's defaults follow RFC 9106's recommendation
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,100}")
MIN_PASSWORD = 12
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


def check_username(username: str) -> str:
    if not _NAME.fullmatch(username):
        raise ConfigError("user names are 1-100 characters: letters, digits, _ . @ -")
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"passwords need at least {MIN_PASSWORD} characters")
    return password


async def create_user(engine: AsyncEngine, username: str, password: str) -> None:
    check_username(username)
    digest = _HASHER.hash(check_password(password))
    async with engine.begin() as connection:
        found = await connection.scalar(select(AdminUser.id).where(AdminUser.username == username))
        if found is not None:
            raise ConfigError(f"admin user {username!r} exists; use `gate admin passwd`")
        await connection.execute(
            table_of(AdminUser).insert().values(username=username, password_hash=digest)
        )


async def set_password(engine: AsyncEngine, username: str, password: str) -> None:
    digest = _HASHER.hash(check_password(password))
    async with engine.begin() as connection:
        result = await connection.execute(
            update(AdminUser).where(AdminUser.username == username).values(password_hash=digest)
        )
        if result.rowcount == 0:
            raise ConfigError(f"no admin user {username!r}")


async def list_users(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list(await connection.scalars(select(AdminUser.username).order_by(AdminUser.id)))


async def authenticate(engine: AsyncEngine, username: str, password: str) -> bool:
    """True when ``password`` is ``username``'s; upgrades the hash when parameters changed."""
    async with engine.connect() as connection:
        stored = await connection.scalar(
            select(AdminUser.password_hash).where(AdminUser.username == username)
        )
    try:
        _HASHER.verify(stored or _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if stored is None:
        return False
    values: dict[str, object] = {"last_login_at": datetime.now(UTC)}
    if _HASHER.check_needs_rehash(stored):
        values["password_hash"] = _HASHER.hash(password)
    async with engine.begin() as connection:
        await connection.execute(
            update(AdminUser).where(AdminUser.username == username).values(**values)
        )
    return True
