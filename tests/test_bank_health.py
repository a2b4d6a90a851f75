"""Bank health from SQL: fresh clues per tier and source, serve rate, time to exhaustion, rotation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gate import metrics
from puzzles.bank import ClueBank
from puzzles.health import bank_health, describe_seconds, publish
from puzzles.models import Clue, ServeSample
from tests.test_bank import rows, synthetic


async def test_health_counts_fresh_clues_and_the_rate_every_flush_records(
    engine: AsyncEngine,
) -> None:
    bank = ClueBank(engine)
    await bank.add_clues(synthetic("gam", 2, tier=2))  # 6 clues in tier 2
    await bank.add_clues(synthetic("bdk", 1, tier=3, domain="Other"))  # 3 in tier 3
    tier2 = [r.id for r in await rows(engine) if r.tier == 2]
    # Two flushes: 10 serves in all, one clue reaching the limit of 5.
    await bank.record_serves({tier2[0]: 4, tier2[1]: 1})
    await bank.record_serves({tier2[0]: 1, tier2[2]: 4})
    health = await bank_health(engine, serve_limit=5, low_water=4)
    by_tier = {t.tier: t for t in health.tiers}
    assert (by_tier[2].fresh, by_tier[2].exhausted) == (5, 1)
    assert (by_tier[3].fresh, by_tier[3].exhausted) == (3, 0)
    # 10 serves over the 15-minute window: 40 an hour; 5 fresh clues last 1/8 hour.
    assert by_tier[2].serves_per_hour == 40.0
    assert by_tier[2].seconds_left == 3600.0 * 5 / 40
    assert by_tier[3].serves_per_hour == 0 and math.isinf(by_tier[3].seconds_left)
    assert [t.tier for t in health.low()] == [1, 3]  # empty tier 1, 3 fresh < 4; tier 2 has 5
    assert dict(((s, t), n) for s, t, n in health.by_source) == {
        ("test:synthetic", 2): 5,
        ("test:synthetic", 3): 3,
    }

    # Samples outside the window stop counting.
    later = datetime.now(UTC) + timedelta(minutes=16)
    assert all(t.serves_per_hour == 0 for t in (await bank_health(engine, 5, 4, now=later)).tiers)

    publish(health)
    assert metrics.REGISTRY.get_sample_value("gate_bank_serve_rate", {"tier": "2"}) == 40.0
    assert (
        metrics.REGISTRY.get_sample_value(
            "gate_bank_servable_clues", {"tier": "3", "source": "test:synthetic"}
        )
        == 3
    )
    assert metrics.REGISTRY.get_sample_value(
        "gate_bank_exhaustion_seconds", {"tier": "2"}
    ) == pytest.approx(450.0)


async def test_old_samples_are_pruned_at_the_next_flush(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.add_clues(synthetic("g", 1, tier=1))
    (clue,) = await rows(engine)
    async with engine.begin() as conn:
        await conn.execute(
            ServeSample.__table__.insert().values(
                at=datetime.now(UTC) - timedelta(days=8), tier=1, served=7
            )
        )
    await bank.record_serves({clue.id: 1})
    async with engine.connect() as conn:
        served = (await conn.execute(select(ServeSample.served))).scalars().all()
    assert served == [1]


async def test_rotation_retires_clues_at_the_serve_limit(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.add_clues(synthetic("gam", 1, tier=2))
    a, b, _ = (r.id for r in await rows(engine))
    await bank.record_serves({a: 5, b: 4})
    assert await bank.retire_exhausted(serve_limit=5) == 1
    assert await bank.retire_exhausted(serve_limit=5) == 0  # already retired
    async with engine.connect() as conn:
        retired = (await conn.execute(select(Clue.id).where(Clue.retired))).scalars().all()
    assert retired == [a]
    health = await bank_health(engine, serve_limit=5, low_water=1)
    tier2 = next(t for t in health.tiers if t.tier == 2)
    assert (tier2.fresh, tier2.exhausted) == (2, 0)


def test_durations_read_at_a_glance() -> None:
    assert describe_seconds(math.inf) == "not being served"
    assert describe_seconds(125) == "2 min"
    assert describe_seconds(3 * 3600 + 20 * 60) == "3 h 20 min"
    assert describe_seconds(5 * 86400) == "5 d"
