"""What the factory spent, read back from its job records (``FactoryJob`` / ``FactoryItem``):
totals for ``gate puzzles stats`` and ``bench/asymmetry.py``, per-clue provenance for clue export,
and the servable clues per tier a gate is priced at.  Read-only: the jobs that write these records
are ``puzzles.factory.jobs``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from puzzles.factory import Usage
from puzzles.models import (
    ITEM_ACCEPTED,
    ITEM_REJECTED,
    VERIFIED,
    Clue,
    FactoryItem,
    FactoryJob,
    table_of,
)

_jobs = table_of(FactoryJob)
_items = table_of(FactoryItem)
_clues = table_of(Clue)


@dataclass(frozen=True, slots=True)
class FactoryCosts:
    """What the factory spent, for ``gate puzzles stats`` and ``bench/asymmetry.py``."""

    accepted: int  # clues accepted by generate jobs and still in the bank as verified
    attempts: int  # generation attempts, rejected ones included
    gen_usage: Usage  # generation calls of generate jobs
    verify_usage: Usage  # solver calls of generate and verify jobs
    calibrate_usage: Usage
    generator_models: tuple[str, ...]
    solver_models: tuple[str, ...]  # verification
    reference_models: tuple[str, ...]  # calibration
    reasons: dict[str, int]  # rejection reason -> generate items

    @property
    def tokens_per_accepted(self) -> float | None:
        """Generation + verification tokens (prompt and completion) per accepted clue."""
        if not self.accepted:
            return None
        return (self.gen_usage.total + self.verify_usage.total) / self.accepted


async def factory_costs(engine: AsyncEngine) -> FactoryCosts:
    i, j = _items.c, _jobs.c
    sums = (
        func.coalesce(func.sum(i.gen_prompt_tokens), 0),
        func.coalesce(func.sum(i.gen_completion_tokens), 0),
        func.coalesce(func.sum(i.solve_prompt_tokens), 0),
        func.coalesce(func.sum(i.solve_completion_tokens), 0),
        func.coalesce(func.sum(i.attempts), 0),
        func.count(),
    )
    async with engine.connect() as conn:
        by_kind = {
            row[0]: row[1:]
            for row in (
                await conn.execute(
                    select(j.kind, *sums)
                    .select_from(_items.join(_jobs, j.id == i.job_id))
                    .group_by(j.kind)
                )
            ).all()
        }
        accepted = await conn.scalar(
            select(func.count())
            .select_from(
                _items.join(_jobs, j.id == i.job_id).join(_clues, _clues.c.id == i.clue_id)
            )
            .where(j.kind == "generate", i.status == ITEM_ACCEPTED)
            .where(_clues.c.status == VERIFIED)
        )
        reasons = {
            reason: n
            for reason, n in (
                await conn.execute(
                    select(i.reason, func.count())
                    .select_from(_items.join(_jobs, j.id == i.job_id))
                    .where(j.kind == "generate", i.status == ITEM_REJECTED)
                    .group_by(i.reason)
                )
            ).all()
        }
        models: dict[str, tuple[str, ...]] = {}
        for kind, column in (
            ("generate", i.gen_model),
            ("verify", i.solver_models),
            ("calibrate", i.solver_models),
        ):
            kinds = ("generate", "verify") if kind == "verify" else (kind,)
            values = (
                await conn.execute(
                    select(column)
                    .distinct()
                    .select_from(_items.join(_jobs, j.id == i.job_id))
                    .where(j.kind.in_(kinds), column != "")
                )
            ).scalars()
            models[kind] = tuple(sorted({m for value in values for m in value.split(",") if m}))

    def usage(kind: str, solver: bool) -> Usage:
        row = by_kind.get(kind)
        if row is None:
            return Usage()
        return Usage(int(row[2]), int(row[3]), 0) if solver else Usage(int(row[0]), int(row[1]), 0)

    return FactoryCosts(
        accepted=int(accepted or 0),
        attempts=int(by_kind["generate"][4]) if "generate" in by_kind else 0,
        gen_usage=usage("generate", False),
        verify_usage=usage("generate", True) + usage("verify", True),
        calibrate_usage=usage("calibrate", True),
        generator_models=models["generate"],
        solver_models=models["verify"],
        reference_models=models["calibrate"],
        reasons=reasons,
    )


async def clue_costs(
    engine: AsyncEngine, clue_ids: Sequence[int] | None = None
) -> dict[int, dict[str, Any]]:
    """Per-clue provenance and cost: tokens of every factory item linked to the clue."""
    i, j = _items.c, _jobs.c
    stmt = (
        select(
            i.clue_id,
            func.sum(i.gen_prompt_tokens + i.gen_completion_tokens),
            func.sum(i.solve_prompt_tokens + i.solve_completion_tokens),
            func.max(i.gen_model),
            func.max(i.solver_models),
            func.max(j.name),
        )
        .select_from(_items.join(_jobs, j.id == i.job_id))
        .where(i.clue_id.is_not(None), j.kind.in_(("generate", "verify")))
        .group_by(i.clue_id)
    )
    if clue_ids is not None:
        stmt = stmt.where(i.clue_id.in_(list(clue_ids)))
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return {
        row[0]: {
            "gen_tokens": int(row[1] or 0),
            "verify_tokens": int(row[2] or 0),
            "generator": row[3] or "",
            "solvers": row[4] or "",
            "job": row[5] or "",
        }
        for row in rows
    }


@dataclass(frozen=True, slots=True)
class TierCost:
    tier: int
    clues: int  # servable clues at this tier
    calibrated: int  # of which a calibration job measured
    mean_expected_tokens: float  # per clue; price unit

    def per_gate(self, length: int) -> float:
        """Expected solver tokens for one gate of ``length`` clues at this tier."""
        return self.mean_expected_tokens * length


async def tier_costs(engine: AsyncEngine) -> list[TierCost]:
    """Servable clues per tier with their mean expected solver tokens (what a gate is priced at)."""
    c, i, j = _clues.c, _items.c, _jobs.c
    servable = (c.status == VERIFIED) & c.retired.is_(False)
    calibrated = (
        select(i.clue_id)
        .join(_jobs, j.id == i.job_id)
        .where(j.kind == "calibrate", i.status == ITEM_ACCEPTED, i.clue_id.is_not(None))
    )
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(c.tier, func.count(), func.avg(c.expected_tokens))
                .where(servable)
                .group_by(c.tier)
                .order_by(c.tier)
            )
        ).all()
        measured: dict[int, int] = dict(
            (
                await conn.execute(
                    select(c.tier, func.count())
                    .where(servable, c.id.in_(calibrated))
                    .group_by(c.tier)
                )
            ).all()
        )
    return [
        TierCost(int(tier), int(n), int(measured.get(tier, 0)), float(mean or 0.0))
        for tier, n, mean in rows
    ]
