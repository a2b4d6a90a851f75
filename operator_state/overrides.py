"""Operator overrides per client identity in SQL (tier, block) and the audit trail of them.

Every change writes an ``identity_actions`` row in the same transaction (who, what, why), and that
table's growing id is what replicas poll to know when to reload the overrides.  Identity keys are
the gatekeeper's: see ``gate.overrides``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Insert, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gate.errors import ConfigError
from gate.overrides import IdentityOverride as OverrideView
from gate.revocation import revoke_identity_passes
from gate.store import Store
from operator_state.models import IdentityAction, IdentityOverride

__all__ = [
    "IdentityEvent",
    "Override",
    "clear_override",
    "identity_history",
    "list_overrides",
    "load_override_view",
    "overrides_revision",
    "revoke_passes",
    "set_override",
]

Sessions = async_sessionmaker[AsyncSession]
_MAX = 300


@dataclass(frozen=True, slots=True)
class Override:
    identity: str
    tier: str | None
    blocked: bool
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class IdentityEvent:
    """One audited operator action on an identity: ``set``, ``clear`` or ``revoke``."""

    id: int
    at: datetime
    identity: str
    action: str
    tier: str | None
    blocked: bool
    actor: str
    reason: str


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _check(identity: str, actor: str) -> None:
    if not identity or len(identity) > _MAX or identity != identity.strip():
        raise ConfigError("an identity is 1-300 characters without surrounding spaces")
    if not actor or len(actor) > _MAX:
        raise ConfigError("a change needs an actor (1-300 characters)")


def _audit(
    identity: str,
    action: str,
    actor: str,
    reason: str,
    at: datetime,
    *,
    tier: str | None = None,
    blocked: bool = False,
) -> Insert:
    return insert(IdentityAction).values(
        at=at,
        identity=identity,
        action=action,
        tier=tier,
        blocked=blocked,
        actor=actor,
        reason=reason,
    )


async def set_override(
    sessionmaker: Sessions,
    identity: str,
    *,
    tier: str | None,
    blocked: bool,
    actor: str,
    reason: str = "",
) -> Override:
    """Give ``identity`` a tier and/or block it (replacing its previous override)."""
    _check(identity, actor)
    if tier is not None and not (0 < len(tier) <= 100):
        raise ConfigError("a tier name is 1-100 characters")
    at = datetime.now(UTC)
    async with sessionmaker() as session, session.begin():
        await session.merge(
            IdentityOverride(
                identity=identity,
                tier=tier,
                blocked=blocked,
                actor=actor,
                reason=reason,
                updated_at=at,
            )
        )
        await session.execute(
            _audit(identity, "set", actor, reason, at, tier=tier, blocked=blocked)
        )
    return Override(identity, tier, blocked, actor, reason, at)


async def clear_override(sessionmaker: Sessions, identity: str, actor: str) -> None:
    """Remove ``identity``'s override (a no-op, still audited, when it has none)."""
    _check(identity, actor)
    at = datetime.now(UTC)
    async with sessionmaker() as session, session.begin():
        await session.execute(delete(IdentityOverride).where(IdentityOverride.identity == identity))
        await session.execute(_audit(identity, "clear", actor, "", at))


async def list_overrides(sessionmaker: Sessions) -> list[Override]:
    query = select(IdentityOverride).order_by(IdentityOverride.identity)
    async with sessionmaker() as session:
        rows = (await session.scalars(query)).all()
    return [
        Override(row.identity, row.tier, row.blocked, row.actor, row.reason, _aware(row.updated_at))
        for row in rows
    ]


async def overrides_revision(sessionmaker: Sessions) -> tuple[int, int]:
    """Moves with every audited change; replicas reload the overrides when it does.

    The count is part of it because ids are handed out before commit: a change committed after
    a later-numbered one leaves ``max(id)`` where it was, and would never be loaded.
    """
    query = select(func.count(IdentityAction.id), func.max(IdentityAction.id))
    async with sessionmaker() as session:
        count, newest = (await session.execute(query)).one()
    return int(count or 0), int(newest or 0)


async def load_override_view(sessionmaker: Sessions) -> Mapping[str, OverrideView]:
    """Identity -> override, as the gatekeeper consults it."""
    return {
        item.identity: OverrideView(item.tier, item.blocked, item.reason)
        for item in await list_overrides(sessionmaker)
    }


async def identity_history(
    sessionmaker: Sessions, identity: str | None = None, limit: int = 100
) -> list[IdentityEvent]:
    """The audit trail, newest first (of one identity when given)."""
    query = select(IdentityAction).order_by(IdentityAction.id.desc()).limit(limit)
    if identity is not None:
        query = query.where(IdentityAction.identity == identity)
    async with sessionmaker() as session:
        rows = (await session.scalars(query)).all()
    return [
        IdentityEvent(
            row.id,
            _aware(row.at),
            row.identity,
            row.action,
            row.tier,
            row.blocked,
            row.actor,
            row.reason,
        )
        for row in rows
    ]


async def revoke_passes(
    sessionmaker: Sessions,
    store: Store,
    identity: str,
    *,
    actor: str,
    reason: str = "",
    now: float | None = None,
) -> None:
    """Revoke every pass ``identity`` holds (``gate.revocation``) and audit who did it.

    The store write comes first: an audit row must not claim a revocation that did not happen.
    """
    _check(identity, actor)
    await revoke_identity_passes(store, identity, now=time.time() if now is None else now)
    at = datetime.now(UTC)
    async with sessionmaker() as session, session.begin():
        await session.execute(_audit(identity, "revoke", actor, reason, at))
