"""The dashboard's audit trail: every action an admin takes, with who and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from operator_state.models import AdminAction


@dataclass(frozen=True, slots=True)
class ActionEntry:
    at: datetime
    actor: str
    action: str
    target: str
    detail: str


async def record_action(
    engine: AsyncEngine, actor: str, action: str, target: str = "", detail: str = ""
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(AdminAction).values(
                at=datetime.now(UTC), actor=actor, action=action, target=target, detail=detail
            )
        )


async def recent_actions(engine: AsyncEngine, limit: int = 50) -> list[ActionEntry]:
    query = select(AdminAction).order_by(AdminAction.id.desc()).limit(limit)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [
        ActionEntry(
            row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC),
            row.actor,
            row.action,
            row.target,
            row.detail,
        )
        for row in rows
    ]
