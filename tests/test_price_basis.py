"""Prices say what they rest on: measured by named reference models, or the tier's default.

The basis travels from SQL (accepted calibration items) through the index into every challenge
and the discovery document, and the dashboard's bank page lists it per source and tier.
"""

from __future__ import annotations

import random

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gate.gatekeeper import Gatekeeper
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.puzzle import PuzzleSpec, puzzle_from_dict, puzzle_to_dict
from gate.rules import Rule, RuleSet
from gate.store import MemoryStore
from middleware import GateMiddleware
from middleware.render import basis_words
from puzzles.bank import ClueBank
from puzzles.composer import BankComposer
from puzzles.draft import ClueDraft
from puzzles.models import Clue, FactoryItem, FactoryJob

WORDS = ("game", "mage", "sage", "gems", "mesa", "seam")


def drafts(tier: int, source: str) -> list[ClueDraft]:
    return [
        ClueDraft(
            domain="Testing",
            text=f"Synthetic question {n} of tier {tier} from {source} in series {letter.upper()}",
            answer=f"{letter.upper()}orvath{n}",
            tier=tier,
            source=source,
        )
        for letter in "gamesm"
        for n in range(6)
    ]


async def _measure(engine: AsyncEngine, source: str, models: str) -> int:
    """Mark every clue of ``source`` as calibrated by ``models`` (an accepted calibrate item)."""
    from sqlalchemy import select

    async with engine.begin() as conn:
        ids = (await conn.execute(select(Clue.id).where(Clue.source == source))).scalars().all()
        job = (
            await conn.execute(
                insert(FactoryJob)
                .values(name=f"calibrate {source}", kind="calibrate", params="{}")
                .returning(FactoryJob.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(FactoryItem),
            [
                {
                    "job_id": job,
                    "position": clue_id,
                    "status": "accepted",
                    "clue_id": clue_id,
                    "solver_models": models,
                }
                for clue_id in ids
            ],
        )
    return len(ids)


async def test_the_basis_is_estimated_until_a_calibration_measures_it(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.seed([*drafts(1, "test:plain"), *drafts(2, "test:measured")], WORDS)
    assert await _measure(engine, "test:measured", "qwen2.5-7b,llama3.1-8b") == 30

    composer = BankComposer(await bank.load_index(), MemoryStore(), rng=random.Random(3))
    estimated = await composer.compose(PuzzleSpec(1, 4, 1))
    assert estimated.public.basis == {
        "kind": "estimated",
        "clues": 4,
        "measured_clues": 0,
        "models": [],
    }
    measured = await composer.compose(PuzzleSpec(1, 4, 2))
    assert measured.public.basis["kind"] == "measured"
    assert measured.public.basis["models"] == ["llama3.1-8b", "qwen2.5-7b"]
    # The stored and shown form keeps it (a challenge viewed again says the same).
    assert puzzle_from_dict(puzzle_to_dict(measured.public)).basis == measured.public.basis
    assert basis_words(measured.public.basis) == "measured with llama3.1-8b, qwen2.5-7b"
    assert basis_words(estimated.public.basis).startswith("an estimate")

    by_tier = composer.price_basis()
    assert by_tier[1]["kind"] == "estimated" and by_tier[2]["kind"] == "measured"
    assert by_tier[2]["clues"] == by_tier[2]["measured_clues"] == 30


async def test_challenges_and_discovery_carry_the_basis(
    engine: AsyncEngine, solve_floor: None
) -> None:
    bank = ClueBank(engine)
    await bank.seed([*drafts(1, "test:plain"), *drafts(2, "test:plain")], WORDS)
    composer = BankComposer(await bank.load_index(), MemoryStore(), rng=random.Random(5))
    gatekeeper = Gatekeeper(
        MemoryStore(), composer, PassCodec(KeyRing.generate()), RuleSet([Rule("/paid/", price=600)])
    )
    client = TestClient(GateMiddleware(Starlette(), gatekeeper), client=("192.0.2.1", 1))

    challenge = client.get("/paid/x", headers={"Accept": "application/json"}).json()["challenge"]
    assert challenge["puzzle"]["basis"]["kind"] == "estimated"
    text = client.get("/paid/x", headers={"Accept": "text/markdown"}).text
    assert "an estimate: the tier's default cost per clue" in text

    tiers = client.get("/.well-known/reasoning-gate").json()["puzzle"]["tiers"]
    assert tiers["2"]["price_basis"]["kind"] == "estimated"
    assert tiers["2"]["price_basis"]["median_tokens"] == 300
    assert "price_basis" not in tiers["3"]  # nothing servable at tier 3: nothing to claim
