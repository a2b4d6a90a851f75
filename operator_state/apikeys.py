"""API keys in SQL: created once (the key is shown once), stored only as a hash, revocable."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gate.errors import ConfigError
from gate.identity import ApiKeyInfo, hash_api_key
from operator_state.models import ApiKey

KEY_PREFIX = "rgk_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    name: str
    tier: str
    revoked: bool


async def create_api_key(engine: AsyncEngine, name: str, tier: str = "") -> str:
    """Store a new key for ``name`` and return it; it cannot be recovered later."""
    if not _NAME.match(name):
        raise ConfigError("key names are 1-100 letters, digits, '.', '_' or '-'")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(ApiKey).values(name=name, key_hash=hash_api_key(key), tier=tier)
            )
    except IntegrityError as exc:
        raise ConfigError(f"an API key named {name!r} exists already") from exc
    return key


async def revoke_api_key(engine: AsyncEngine, name: str) -> bool:
    async with engine.begin() as connection:
        result = await connection.execute(
            update(ApiKey)
            .where(ApiKey.name == name, ApiKey.revoked.is_(False))
            .values(revoked=True)
        )
    return bool(result.rowcount)


async def list_api_keys(engine: AsyncEngine) -> list[ApiKeyRecord]:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(ApiKey).order_by(ApiKey.name))).all()
    return [ApiKeyRecord(row.name, row.tier, row.revoked) for row in rows]


async def active_api_keys(engine: AsyncEngine) -> dict[str, ApiKeyInfo]:
    """Key hash -> who and which tier, for the gate's in-memory lookup."""
    query = select(ApiKey.key_hash, ApiKey.name, ApiKey.tier).where(ApiKey.revoked.is_(False))
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return {key_hash: ApiKeyInfo(name, tier) for key_hash, name, tier in rows}
