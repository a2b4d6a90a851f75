"""Refill: rotation, the offline top-up from the fact graph, the factory for the rest, the watch."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from puzzles.bank import ClueBank
from puzzles.models import Clue
from puzzles.refill import Refiller, graph_offline
from tests.test_bank import rows, synthetic


async def _fresh(engine: AsyncEngine, tier: int, limit: int) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                select(func.count())
                .select_from(Clue)
                .where(Clue.tier == tier, ~Clue.retired, Clue.times_served < limit)
            )
            or 0
        )


async def test_a_round_retires_exhausted_clues_and_tops_up_low_tiers_from_the_graph(
    engine: AsyncEngine, database_url: str
) -> None:
    bank = ClueBank(engine)
    await bank.add_clues(synthetic("gam", 1, tier=1))
    first = (await rows(engine))[0].id
    await bank.record_serves({first: 3})
    calls: list[tuple[int, int]] = []

    async def factory(_engine: AsyncEngine, tier: int, wanted: int) -> int:
        calls.append((tier, wanted))
        return 0

    refiller = Refiller(
        engine, serve_limit=3, low_water=50, offline=graph_offline(database_url), factory=factory
    )
    done = await refiller.refill_once()
    assert done.retired == 1
    # The fact graph adds thousands per tier: no tier is low any more, the factory is not asked.
    assert all(done.offline_added[t] > 1_000 for t in (1, 2, 3))
    assert done.still_low == () and calls == []
    assert await _fresh(engine, 2, 3) == done.offline_added[2]

    # Nothing new a second time: the graph is spent for those tiers and is not rebuilt.
    again = await refiller.refill_once()
    assert again.offline_added == {} and again.retired == 0


async def test_the_factory_fills_what_the_offline_sources_cannot(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.add_clues(synthetic("gam", 1, tier=2))  # 3 fresh tier-2 clues
    offline_asked: list[set[int]] = []

    async def spent_offline(tiers: set[int]) -> dict[int, int]:
        offline_asked.append(tiers)
        return {t: 0 for t in tiers}

    asked: list[tuple[int, int]] = []

    async def factory(engine_: AsyncEngine, tier: int, wanted: int) -> int:
        asked.append((tier, wanted))
        return (await ClueBank(engine_).add_clues(synthetic("bdk", 1, tier=tier))).added

    refiller = Refiller(engine, serve_limit=10, low_water=5, offline=spent_offline, factory=factory)
    await ClueBank(engine).add_clues(synthetic("cfh", 2, tier=1) + synthetic("cfh", 2, tier=3))
    done = await refiller.refill_once()
    assert offline_asked == [{2}] and asked == [(2, 2)]  # 5 wanted - 3 fresh
    assert done.factory_added == {2: 3} and done.still_low == ()
    assert await _fresh(engine, 2, 10) == 6
    await refiller.refill_once()
    assert offline_asked == [{2}]  # a spent offline source is not asked again


async def test_the_watch_runs_rounds_until_stopped_and_survives_a_failed_round(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    rounds = 0

    async def flaky(tiers: set[int]) -> dict[int, int]:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            raise OSError("disk hiccup")
        await ClueBank(engine).add_clues(synthetic("gam", 2, tier=1))
        return {1: 6}

    await ClueBank(engine).add_clues(synthetic("bdk", 1, tier=1))
    refiller = Refiller(engine, serve_limit=10, low_water=5, offline=flaky)
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="reasoning_gate.refill"):
        task = asyncio.create_task(refiller.watch(0.05, stop))
        for _ in range(200):
            if rounds >= 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert rounds == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("refill round failed" in m for m in messages)
    assert any("added tier 1: 6" in m for m in messages)


async def test_the_factory_step_runs_a_resumable_generation_job_for_the_low_tier(
    engine: AsyncEngine,
) -> None:
    from puzzles.factory.generate import grounded_targets
    from puzzles.factory.jobs import GenerateSettings
    from puzzles.factory.verify import Solver
    from puzzles.refill import factory_refill
    from tests.test_factory import ScriptedPool, fact, generator, reply, solver_knowing

    facts = [fact("Helsinki", tier=2), fact("Neon", "Chemistry", tier=2), fact("Oslo", tier=1)]
    helsinki = "Which city is the capital of the country whose internet domain is .fi?"
    neon = "Which noble gas glows red-orange in advertising signs?"
    pool = ScriptedPool(
        "gen",
        generator({"Helsinki": [reply("Helsinki", helsinki)], "Neon": [reply("Neon", neon)]}),
    )
    solver = Solver(
        ScriptedPool("solver", solver_knowing({helsinki: "Helsinki", neon: "Neon"})), "s"
    )
    step = factory_refill(pool, [solver], settings=GenerateSettings(concurrency=2), facts=facts)
    assert len(grounded_targets(5, facts=facts, tiers=(2,))) == 2  # only the tier-2 facts
    assert await step(engine, 2, 5) == 2
    async with engine.connect() as conn:
        added = (await conn.execute(select(Clue.answer, Clue.tier, Clue.status))).all()
    assert sorted(added) == [("Helsinki", 2, "verified"), ("Neon", 2, "verified")]
    # The next round asks for the same tier again: the finished job is not re-run.
    calls = pool.calls
    assert await step(engine, 2, 5) == 0 and pool.calls == calls


def test_status_and_refill_from_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gate.cli import app

    runner = CliRunner()
    url = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}"]
    assert runner.invoke(app, ["puzzles", "seed", *url]).exit_code == 0
    # The built-in bank has 255 tier-1 and 552 tier-2 clues: below a mark of 1000.
    status = runner.invoke(app, ["puzzles", "status", "--check", "--low-water", "1000", *url])
    assert status.exit_code == 1, status.output
    assert "below the low-water mark" in status.output and "tier(s) 1, 2" in status.output
    assert runner.invoke(app, ["puzzles", "status", *url, "--low-water", "1000"]).exit_code == 0

    refill = runner.invoke(app, ["puzzles", "refill", "--low-water", "1000", *url])
    assert refill.exit_code == 0, refill.output
    assert "builtin:graph" in refill.output
    healthy = runner.invoke(app, ["puzzles", "status", "--check", "--low-water", "1000", *url])
    assert healthy.exit_code == 0, healthy.output
