"""What the dashboard shows of the clue bank: counts, clues near their serve limit, factory jobs,
and sample clues with their answers (the one place answers are ever shown)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from gate.store import Get, Store
from puzzles.bank import measured_by
from puzzles.composer import SERVE_KEY
from puzzles.models import REJECTED, VERIFIED, Clue, FactoryItem, FactoryJob

NEAR_LIMIT = 0.8  # share of the serve limit from which a clue is listed as running out


@dataclass(frozen=True, slots=True)
class BankCounts:
    by_tier: list[tuple[str, int]]
    by_source: list[tuple[str, int]]
    by_letter: list[tuple[str, int]]
    by_domain: list[tuple[str, int]]
    by_status: list[tuple[str, int]]
    servable: int


@dataclass(frozen=True, slots=True)
class ServedClue:
    id: int
    domain: str
    text: str
    tier: int
    served: int  # the larger of SQL's flushed count and the live store counter


@dataclass(frozen=True, slots=True)
class JobProgress:
    id: int
    name: str
    kind: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    total: int
    accepted: int
    rejected: int

    @property
    def done(self) -> int:
        return self.accepted + self.rejected

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


@dataclass(frozen=True, slots=True)
class SampleClue:
    id: int
    domain: str
    text: str
    answer: str
    tier: int
    source: str


_SERVABLE = (Clue.status == VERIFIED) & Clue.retired.is_(False)


async def _grouped(
    connection: AsyncConnection,
    column: QueryableAttribute[Any],
    where: ColumnElement[bool] = _SERVABLE,
) -> list[tuple[str, int]]:
    query = select(column, func.count()).where(where).group_by(column).order_by(func.count().desc())
    return [(str(key), int(count)) for key, count in (await connection.execute(query)).all()]


async def bank_counts(engine: AsyncEngine) -> BankCounts:
    async with engine.connect() as connection:  # one connection for the five counts
        letters = sorted(await _grouped(connection, Clue.initial))
        tiers = sorted(await _grouped(connection, Clue.tier))
        return BankCounts(
            by_tier=tiers,
            by_source=await _grouped(connection, Clue.source),
            by_letter=letters,
            by_domain=await _grouped(connection, Clue.domain),
            by_status=await _grouped(connection, Clue.status, where=Clue.id.is_not(None)),
            servable=sum(count for _, count in tiers),
        )


@dataclass(frozen=True, slots=True)
class PriceBasis:
    """What the expected-token costs of one source's clues at one tier rest on."""

    source: str
    tier: int
    clues: int
    measured: int  # clues whose cost an accepted calibration measured
    models: str  # the reference models of those calibrations

    @property
    def kind(self) -> str:
        return (
            "measured"
            if self.measured == self.clues
            else ("mixed" if self.measured else "estimated")
        )


async def price_bases(engine: AsyncEngine) -> list[PriceBasis]:
    """Servable clues per source and tier, with how many costs were measured and by whom."""
    measured = measured_by()
    query = (
        select(
            Clue.source,
            Clue.tier,
            func.count(),
            func.count(measured.c.models),
            func.max(measured.c.models),
        )
        .select_from(Clue.__table__.outerjoin(measured, measured.c.clue_id == Clue.id))
        .where(_SERVABLE)
        .group_by(Clue.source, Clue.tier)
        .order_by(Clue.source, Clue.tier)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [PriceBasis(src, tier, n, m, models or "") for src, tier, n, m, models in rows]


async def near_limit(
    engine: AsyncEngine, store: Store, serve_limit: int, limit: int = 25
) -> list[ServedClue]:
    """The most served clues, with live counters; those at ``NEAR_LIMIT`` or more of the limit.

    SQL's ``times_served`` lags (replicas flush it when they stop), the store counter is live:
    the most served clues by SQL are checked against the store and the larger count wins.
    """
    query = (
        select(Clue.id, Clue.domain, Clue.text, Clue.tier, Clue.times_served)
        .where(_SERVABLE)
        .order_by(Clue.times_served.desc(), Clue.id)
        .limit(limit * 4)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    live = await store.execute([Get(SERVE_KEY.format(row.id)) for row in rows]) if rows else []
    clues = [
        ServedClue(row.id, row.domain, row.text, row.tier, max(row.times_served, int(count or 0)))
        for row, count in zip(rows, live, strict=True)
    ]
    threshold = NEAR_LIMIT * serve_limit
    running_out = [clue for clue in clues if clue.served >= threshold]
    return sorted(running_out, key=lambda clue: -clue.served)[:limit]


async def factory_jobs(engine: AsyncEngine, limit: int = 20) -> list[JobProgress]:
    items = (
        select(
            FactoryItem.job_id,
            func.count().label("total"),
            func.sum(case((FactoryItem.status == "accepted", 1), else_=0)).label("accepted"),
            func.sum(case((FactoryItem.status == REJECTED, 1), else_=0)).label("rejected"),
        )
        .group_by(FactoryItem.job_id)
        .subquery()
    )
    query = (
        select(
            FactoryJob.id,
            FactoryJob.name,
            FactoryJob.kind,
            FactoryJob.status,
            FactoryJob.created_at,
            FactoryJob.finished_at,
            items.c.total,
            items.c.accepted,
            items.c.rejected,
        )
        .outerjoin(items, items.c.job_id == FactoryJob.id)
        .order_by(FactoryJob.id.desc())
        .limit(limit)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [
        JobProgress(
            row.id,
            row.name,
            row.kind,
            row.status,
            row.created_at,
            row.finished_at,
            int(row.total or 0),
            int(row.accepted or 0),
            int(row.rejected or 0),
        )
        for row in rows
    ]


async def sample_clues(engine: AsyncEngine, count: int = 12) -> list[SampleClue]:
    query = (
        select(Clue.id, Clue.domain, Clue.text, Clue.answer, Clue.tier, Clue.source)
        .where(_SERVABLE)
        .order_by(func.random())
        .limit(count)
    )
    async with engine.connect() as connection:
        return [SampleClue(*row) for row in (await connection.execute(query)).all()]
