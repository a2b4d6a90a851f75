"""Bank health: what can still be served, how fast it goes, and when it runs out.

Read from SQL, so every replica and the command line see the same figures: fresh clues are
servable ones under the serve limit by ``times_served`` (flushed every 15 s), and the serve rate
comes from the samples each flush writes (``ServeSample``), summed over all processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gate import metrics
from gate.puzzle import TIERS
from puzzles.models import VERIFIED, Clue, ServeSample

RATE_WINDOW = timedelta(minutes=15)  # long enough to smooth 15 s flushes, short enough to react


@dataclass(frozen=True, slots=True)
class TierHealth:
    tier: int
    fresh: int  # servable and under the serve limit
    exhausted: int  # servable by status but at the serve limit (withdrawn until retired)
    serves_per_hour: float

    @property
    def seconds_left(self) -> float:
        """Time to exhaustion at the current rate; infinite while nothing is served."""
        if self.serves_per_hour <= 0:
            return math.inf
        return 3600.0 * self.fresh / self.serves_per_hour


@dataclass(frozen=True, slots=True)
class BankHealth:
    tiers: tuple[TierHealth, ...]
    by_source: tuple[tuple[str, int, int], ...]  # (source, tier, fresh clues)
    low_water: int
    window: timedelta

    def low(self) -> tuple[TierHealth, ...]:
        """Tiers with fewer fresh clues than the low-water mark."""
        return tuple(t for t in self.tiers if t.fresh < self.low_water)


def describe_seconds(seconds: float) -> str:
    """A duration an operator reads at a glance: '3 h 20 min', '5 d', 'never at this rate'."""
    if math.isinf(seconds):
        return "not being served"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d"


async def bank_health(
    engine: AsyncEngine,
    serve_limit: int,
    low_water: int,
    *,
    window: timedelta = RATE_WINDOW,
    now: datetime | None = None,
) -> BankHealth:
    c = Clue.__table__.c
    s = ServeSample.__table__.c
    servable = (c.status == VERIFIED) & c.retired.is_(False)
    fresh = c.times_served < serve_limit
    since = (now or datetime.now(UTC)) - window
    async with engine.connect() as conn:
        counts = (
            await conn.execute(
                select(c.source, c.tier, fresh.label("fresh"), func.count())
                .where(servable)
                .group_by(c.source, c.tier, fresh)
            )
        ).all()
        served = dict(
            (
                await conn.execute(
                    select(s.tier, func.sum(s.served)).where(s.at >= since).group_by(s.tier)
                )
            ).all()
        )
    per_tier_fresh: dict[int, int] = {}
    per_tier_out: dict[int, int] = {}
    sources: dict[tuple[str, int], int] = {}
    for source, tier, is_fresh, n in counts:
        bucket = per_tier_fresh if is_fresh else per_tier_out
        bucket[tier] = bucket.get(tier, 0) + n
        if is_fresh:
            sources[(source, tier)] = sources.get((source, tier), 0) + n
    hours = window.total_seconds() / 3600.0
    tiers = tuple(
        TierHealth(
            tier=tier,
            fresh=per_tier_fresh.get(tier, 0),
            exhausted=per_tier_out.get(tier, 0),
            serves_per_hour=float(served.get(tier) or 0) / hours,
        )
        # Every tier, so an empty one shows (and counts as low) instead of vanishing.
        for tier in sorted(set(TIERS) | set(per_tier_fresh) | set(per_tier_out) | set(served))
    )
    by_source = tuple(
        (source, tier, n) for (source, tier), n in sorted(sources.items(), key=lambda kv: kv[0])
    )
    return BankHealth(tiers=tiers, by_source=by_source, low_water=low_water, window=window)


def publish(health: BankHealth) -> None:
    """Set the bank-health gauges from ``health``."""
    for t in health.tiers:
        tier = str(t.tier)
        metrics.BANK_SERVE_RATE.labels(tier).set(t.serves_per_hour)
        metrics.BANK_EXHAUSTION.labels(tier).set(t.seconds_left)
    metrics.BANK_SERVABLE.clear()  # a source that is gone must not keep its last figure
    for source, tier_number, fresh in health.by_source:
        metrics.BANK_SERVABLE.labels(str(tier_number), source).set(fresh)
