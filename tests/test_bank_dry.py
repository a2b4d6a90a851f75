"""A bank that runs out of fresh clues keeps the site usable (or refuses, if the operator says so),
and a restart does not serve again what SQL says was served."""

from __future__ import annotations

import logging
import random

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gate import metrics
from gate.errors import BankError
from gate.puzzle import PuzzleSpec
from gate.store import MemoryStore
from puzzles.bank import ClueBank
from puzzles.composer import BankComposer
from puzzles.index import BankIndex, IndexedClue

WORDS = ("game", "mage")


def index(per_letter: int = 1) -> BankIndex:
    ids = iter(range(1, 10_000))
    clues = [
        IndexedClue(next(ids), 2, letter, "Testing", f"clue {letter} {n}", 300)
        for letter in "game"
        for n in range(per_letter)
    ]
    return BankIndex.build(clues, WORDS)


def texts(puzzle) -> list[str]:  # type: ignore[no-untyped-def]
    return [clue.text for gate in puzzle.public.gates for clue in gate.clues]


def dry_count(mode: str) -> float:
    return metrics.REGISTRY.get_sample_value("gate_bank_dry_total", {"mode": mode}) or 0.0


async def test_a_dry_bank_reuses_served_clues_logs_once_and_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    composer = BankComposer(index(), MemoryStore(), serve_limit=1, rng=random.Random(1))
    first = await composer.compose(PuzzleSpec(1, 4, 2))  # the only fresh clue of each letter
    before = dry_count("reuse")
    with caplog.at_level(logging.WARNING, logger="reasoning_gate.bank"):
        again = [await composer.compose(PuzzleSpec(1, 4, 2)) for _ in range(5)]
    assert all(sorted(texts(p)) == sorted(texts(first)) for p in again)  # reused, never a 503
    assert dry_count("reuse") == before + 5
    assert len([r for r in caplog.records if "clue bank dry" in r.getMessage()]) == 1
    assert composer.served_counts() == {clue: 6 for clue in range(1, 5)}  # SQL sees every serve


async def test_refuse_mode_raises_and_says_why_once() -> None:
    composer = BankComposer(
        index(), MemoryStore(), serve_limit=1, rng=random.Random(1), on_dry="refuse"
    )
    await composer.compose(PuzzleSpec(1, 4, 2))
    before = dry_count("refuse")
    with pytest.raises(BankError):
        await composer.compose(PuzzleSpec(1, 4, 2))
    assert dry_count("refuse") == before + 1


async def test_clues_sql_counts_as_served_out_start_withdrawn(engine: AsyncEngine) -> None:
    from puzzles.draft import ClueDraft

    bank = ClueBank(engine)
    drafts = [
        ClueDraft(
            "Testing", f"Synthetic question {n} in series {c.upper()}", f"{c}orvath{n}", 2, "t"
        )
        for c in "game"
        for n in range(2)
    ]
    await bank.seed(drafts, WORDS)
    first = BankComposer(await bank.load_index(), MemoryStore(), serve_limit=1)
    served = texts(await first.compose(PuzzleSpec(1, 4, 2)))
    await bank.record_serves(first.served_counts())

    # A restart with an empty store: SQL's history keeps the served clues out.
    out = await bank.served_out(1)
    assert len(out) == 4
    second = BankComposer(
        await bank.load_index(), MemoryStore(), serve_limit=1, served_out=out, on_dry="refuse"
    )
    assert not set(texts(await second.compose(PuzzleSpec(1, 4, 2)))) & set(served)


async def test_bank_health_gauges_follow_the_fresh_clues_and_serves() -> None:
    def sample(name: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, {"tier": "2"}) or 0.0

    composer = BankComposer(index(per_letter=3), MemoryStore(), serve_limit=1)
    assert sample("gate_bank_fresh_clues") == 12
    served = sample("gate_bank_serves_total")
    await composer.compose(PuzzleSpec(1, 4, 2))
    assert sample("gate_bank_fresh_clues") == 8  # four served once: withdrawn
    assert sample("gate_bank_serves_total") == served + 4


async def test_a_dry_bank_serving_for_long_holds_its_memory_flat() -> None:
    """The soak's plateau, in process: reusing served clues builds one reuse index per bank index
    (a one-time step), and serving from it keeps nothing per request.  Serve counts are drained as
    the runtime's flush does every 15 s."""
    import gc
    import tracemalloc

    composer = BankComposer(index(per_letter=8), MemoryStore(), serve_limit=1, rng=random.Random(1))

    async def serve(times: int) -> None:
        for n in range(times):
            await composer.compose(PuzzleSpec(1, 4, 2))
            if n % 50 == 0:
                composer.served_counts()  # what Runtime.flush_serves takes to SQL
        composer.served_counts()

    await serve(100)  # runs dry (8 fresh clues per letter) and builds the reuse index
    reuser = composer._reuser
    assert reuser is not None
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        await serve(2_000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert composer._reuser is reuser  # built once for this index, not per dry request
    assert grown < 64 * 1024, grown  # no per-request state: 2,000 puzzles leave < 64 KiB
