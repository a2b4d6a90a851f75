"""The policy audit trail in SQL (written by ``operator_state.policy_store.save_policy``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from operator_state.models import PolicyChange


@dataclass(frozen=True, slots=True)
class AuditEntry:
    applied_at: datetime
    digest: str
    source: str
    actor: str
    document: str


async def policy_history(engine: AsyncEngine, limit: int = 100) -> list[AuditEntry]:
    """Newest first."""
    query = select(PolicyChange).order_by(PolicyChange.id.desc()).limit(limit)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [
        AuditEntry(row.applied_at, row.digest, row.source, row.actor, row.document) for row in rows
    ]
