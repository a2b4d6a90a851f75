"""Serve-time composition: shape, acrostic correctness, serve limit, fallbacks, no leaks."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gate.clock import ManualClock
from gate.errors import BankError
from gate.puzzle import ComposedPuzzle, PuzzleSource, PuzzleSpec
from gate.store import MemoryStore, Store
from gate.store.ops import Incr, Op
from puzzles.bank import ClueBank
from puzzles.composer import BankComposer
from puzzles.draft import ClueDraft
from puzzles.index import BankIndex, IndexedClue
from puzzles.models import Clue
from puzzles.validate import answer_initial

# Hidden words chosen so none of them can occur inside the synthetic clue texts.
WORDS = ("game", "mage", "sage", "gems", "mesa", "seam", "games", "mages", "gamest")


def synthetic(letters: str, per_letter: int, tier: int) -> list[ClueDraft]:
    """Valid drafts: ``per_letter`` clues for each letter; every answer ends in 'orvath'."""
    return [
        ClueDraft(
            domain="Testing",
            text=f"Synthetic clue {n} of tier {tier} in series {letter.upper()}",
            answer=f"{letter.upper()}orvath{n}",
            tier=tier,
            source="test:synthetic",
        )
        for letter in letters
        for n in range(per_letter)
    ]


def memory_index(spec: dict[int, dict[str, int]], words: Sequence[str]) -> BankIndex:
    """An index straight from counts: ``{tier: {letter: how many clues}}`` (ids are unique)."""
    ids = iter(range(1, 1_000_000))
    clues = [
        IndexedClue(next(ids), tier, letter, "Testing", f"clue {letter} {n}", 100 * tier)
        for tier, letters in spec.items()
        for letter, count in letters.items()
        for n in range(count)
    ]
    return BankIndex.build(clues, words)


def composer(index: BankIndex, store: Store | None = None, **kwargs: Any) -> BankComposer:
    kwargs.setdefault("rng", random.Random(1234))
    # These tests are about fresh clues and the limit; reusing served ones (the product's default
    # for a dry bank) is tested in test_bank_dry.
    kwargs.setdefault("on_dry", "refuse")
    if store is None:  # not `store or ...`: an empty MemoryStore is falsy (it has __len__)
        store = MemoryStore(clock=ManualClock())
    return BankComposer(index, store, **kwargs)


class CountingStore(MemoryStore):
    """A memory store that remembers every batch it ran."""

    def __init__(self) -> None:
        super().__init__(clock=ManualClock())
        self.batches: list[list[Op]] = []

    async def execute(self, ops: Sequence[Op]) -> list[Any]:
        self.batches.append(list(ops))
        return await super().execute(ops)


async def answers_by_id(engine: AsyncEngine) -> dict[int, tuple[str, int]]:
    """Test-only lookup of each clue's answer and tier (serve-time code never sees answers)."""
    async with engine.connect() as conn:
        result = await conn.execute(select(Clue.id, Clue.answer, Clue.tier))
        return {cid: (answer, tier) for cid, answer, tier in result.all()}


def clue_ids(puzzle: ComposedPuzzle) -> list[int]:
    return [clue.clue_id for gate in puzzle.public.gates for clue in gate.clues]


async def test_composed_puzzles_spell_their_hidden_words(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.seed([*synthetic("gamest", 6, tier=1), *synthetic("gamest", 6, tier=2)], WORDS)
    answers = await answers_by_id(engine)
    source: PuzzleSource = composer(await bank.load_index())

    for spec in (
        PuzzleSpec(1, 4, 1),
        PuzzleSpec(3, 4, 2),
        PuzzleSpec(2, 5, 1),
        PuzzleSpec(1, 6, 2),
    ):
        for _ in range(20):
            puzzle = await source.compose(spec)
            assert puzzle.public.tier == spec.tier
            assert len(puzzle.public.gates) == len(puzzle.words) == spec.gates
            assert len(set(puzzle.words)) == spec.gates
            for word, gate in zip(puzzle.words, puzzle.public.gates, strict=True):
                assert word in WORDS and word == word.lower()
                assert gate.length == len(word) == spec.length
                spelled = "".join(answer_initial(answers[c.clue_id][0]) for c in gate.clues)
                assert spelled == word
                assert {answers[c.clue_id][1] for c in gate.clues} == {spec.tier}
            ids = clue_ids(puzzle)
            assert len(ids) == len(set(ids)), "a clue appeared twice in one puzzle"
            assert puzzle.public.cost == sum(c.cost for g in puzzle.public.gates for c in g.clues)


async def test_public_puzzle_contains_no_answer(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.seed(synthetic("gamest", 4, tier=1), WORDS)
    answers = [answer.lower() for answer, _ in (await answers_by_id(engine)).values()]
    source = composer(await bank.load_index())
    for _ in range(30):
        puzzle = await source.compose(PuzzleSpec(2, 4, 1))
        shown = (repr(puzzle.public) + repr(dataclasses.asdict(puzzle.public))).lower()
        for secret in (*puzzle.words, *answers):
            assert secret not in shown
        assert "orvath" not in shown
        for word in puzzle.words:
            assert word not in repr(puzzle).lower()
            assert word not in str(puzzle).lower()


async def test_serve_limit_runs_the_bank_dry(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.seed(synthetic("game", 3, tier=1), ["game", "mage"])
    store = MemoryStore(clock=ManualClock())
    source = composer(await bank.load_index(), store, serve_limit=1)
    served: Counter[int] = Counter()
    puzzles = 0
    with pytest.raises(BankError, match="clue bank"):
        for _ in range(10):
            puzzle = await source.compose(PuzzleSpec(1, 4, 1))
            served.update(clue_ids(puzzle))
            puzzles += 1
    assert puzzles == 3  # 3 clues per letter, 4 letters per puzzle, each clue served once
    assert set(served.values()) == {1}
    assert len(served) == 12
    assert source.served_counts() == dict(served)
    assert source.served_counts() == {}


async def test_serve_limit_is_shared_through_the_store() -> None:
    """Two replicas on one store never serve a clue more than K times together."""
    index = memory_index({1: {"g": 4, "a": 4, "m": 4, "e": 4}}, ["game", "mage"])
    store = MemoryStore(clock=ManualClock())
    replicas = [composer(index, store, serve_limit=2, rng=random.Random(i)) for i in range(2)]
    served: Counter[int] = Counter()
    failures = 0
    for turn in range(40):
        try:
            served.update(clue_ids(await replicas[turn % 2].compose(PuzzleSpec(1, 4, 1))))
        except BankError:
            failures += 1
    assert max(served.values()) <= 2
    assert sum(served.values()) == 4 * 4 * 2  # every clue used up exactly K times
    assert failures == 40 - 8


async def test_clue_past_the_limit_is_replaced_by_a_fresh_one() -> None:
    index = memory_index({1: {"w": 2, "o": 2, "r": 2, "d": 2}}, ["word"])
    store = CountingStore()
    first, second = (composer(index, store, serve_limit=1, rng=random.Random(i)) for i in (1, 2))
    a = set(clue_ids(await first.compose(PuzzleSpec(1, 4, 1))))
    b = set(clue_ids(await second.compose(PuzzleSpec(1, 4, 1))))  # may pick some of a's: re-picked
    assert len(store.batches) > 2, "the second puzzle should have re-picked a used clue"
    assert not a & b
    assert len(a | b) == 8
    with pytest.raises(BankError):
        await second.compose(PuzzleSpec(1, 4, 1))


async def test_one_store_batch_per_puzzle() -> None:
    index = memory_index({2: {ch: 5 for ch in "gamest"}}, WORDS)
    store = CountingStore()
    source = composer(index, store)
    puzzle = await source.compose(PuzzleSpec(3, 4, 2))
    assert len(store.batches) == 1
    (batch,) = store.batches
    assert all(isinstance(op, Incr) and op.ttl == 30 * 86_400 for op in batch)
    assert [op.key for op in batch] == [f"clue:served:{cid}" for cid in clue_ids(puzzle)]


async def test_repeated_letters_get_distinct_clues() -> None:
    # "mama" needs two clues for each of m and a; with one 'a' clue it cannot be served.
    assert memory_index({1: {"m": 2, "a": 1}}, ["mama"]).words_for(1, 4) == ()
    index = memory_index({1: {"m": 2, "a": 2}}, ["mama"])
    source = composer(index)
    for _ in range(10):
        ids = clue_ids(await source.compose(PuzzleSpec(1, 4, 1)))
        assert len(set(ids)) == 4


async def test_tier_falls_back_to_the_nearest_and_harder_on_a_tie() -> None:
    only_easy = composer(memory_index({1: {ch: 2 for ch in "game"}}, WORDS))
    assert (await only_easy.compose(PuzzleSpec(1, 4, 3))).public.tier == 1
    both_ends = composer(memory_index({t: {ch: 2 for ch in "game"} for t in (1, 3)}, WORDS))
    assert (await both_ends.compose(PuzzleSpec(1, 4, 2))).public.tier == 3
    assert (await both_ends.compose(PuzzleSpec(1, 4, 1))).public.tier == 1


async def test_length_falls_back_to_the_nearest_and_longer_on_a_tie() -> None:
    index = memory_index({1: {ch: 3 for ch in "gamest"}}, ["game", "gamest"])  # lengths 4 and 6
    source = composer(index)
    assert (await source.compose(PuzzleSpec(1, 5, 1))).words == ("gamest",)
    assert (await source.compose(PuzzleSpec(1, 12, 1))).words == ("gamest",)
    assert (await source.compose(PuzzleSpec(1, 3, 1))).words == ("game",)
    # Two gates need two distinct words: only length 4 has them.
    index2 = memory_index({1: {ch: 3 for ch in "gamest"}}, ["game", "mage", "gamest"])
    assert {len(w) for w in (await composer(index2).compose(PuzzleSpec(2, 6, 1))).words} == {4}


async def test_unservable_requests_raise_bank_error() -> None:
    with pytest.raises(BankError, match="cannot serve"):
        await composer(memory_index({}, WORDS)).compose(PuzzleSpec(1, 4, 1))
    with pytest.raises(BankError, match="cannot serve"):
        await composer(memory_index({1: {ch: 3 for ch in "game"}}, [])).compose(PuzzleSpec(1, 4, 1))
    two_words = composer(memory_index({1: {ch: 9 for ch in "gamest"}}, ["game", "mage"]))
    with pytest.raises(BankError, match="cannot serve"):
        await two_words.compose(PuzzleSpec(3, 4, 1))
    with pytest.raises(BankError):
        await two_words.compose(PuzzleSpec(0, 4, 1))


async def test_too_few_clues_across_gates_raise_bank_error() -> None:
    # Each word alone is servable, but two gates need 2 'g' clues and there is one.
    source = composer(memory_index({1: {"g": 1, "a": 2, "m": 2, "e": 2}}, ["game", "mage"]))
    with pytest.raises(BankError, match="too few distinct clues"):
        await source.compose(PuzzleSpec(2, 4, 1))


async def test_served_counts_feed_record_serves(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.seed(synthetic("gamest", 3, tier=1), WORDS)
    source = composer(await bank.load_index())
    expected: Counter[int] = Counter()
    for _ in range(10):
        expected.update(clue_ids(await source.compose(PuzzleSpec(2, 4, 1))))
    await bank.record_serves(source.served_counts())
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Clue.id, Clue.times_served))).all()
    assert {cid: n for cid, n in rows if n} == dict(expected)


async def test_replace_index_keeps_clues_dropped_for_the_limit() -> None:
    index = memory_index({1: {"w": 2, "o": 2, "r": 2, "d": 2}}, ["word"])
    source = composer(index, serve_limit=1)
    first = set(clue_ids(await source.compose(PuzzleSpec(1, 4, 1))))
    source.replace_index(index)
    second = set(clue_ids(await source.compose(PuzzleSpec(1, 4, 1))))
    assert not first & second
    source.replace_index(index)
    with pytest.raises(BankError):
        await source.compose(PuzzleSpec(1, 4, 1))


async def test_as_many_gates_as_words_always_succeeds() -> None:
    """Random word draws may keep hitting taken words; the fallback sample must still succeed."""
    words = ["game", "mage", "sage"]
    source = composer(memory_index({1: {ch: 10 for ch in "gamse"}}, words))
    for _ in range(50):
        assert sorted((await source.compose(PuzzleSpec(3, 4, 1))).words) == words


async def test_a_re_spelled_gate_hands_back_the_serves_it_did_not_use() -> None:
    """Another replica served the only 'x' clue; a composer that still offers it re-spells
    "oxen" as "oven", and the clues it claimed for "oxen" are counted back, not burned."""
    respelled = 0
    for seed in range(12):
        index = memory_index({1: {"x": 1, "o": 4, "e": 4, "n": 4, "v": 4}}, ["oxen", "oven"])
        store = CountingStore()
        await store.execute([Incr("clue:served:1", 1, 60.0)])  # clue 1, the 'x', served elsewhere
        source = composer(index, store, serve_limit=1, rng=random.Random(seed))
        puzzle = await source.compose(PuzzleSpec(1, 4, 1))
        respelled += len(store.batches) > 2
        served = Counter(clue_ids(puzzle))
        for clue_id in range(2, 18):
            count = await store.get(f"clue:served:{clue_id}")
            assert int(count or 0) == served[clue_id], (seed, clue_id)
        assert 1 not in served
    assert respelled, "no seed took the re-spelling path"


async def test_a_composition_given_up_hands_back_every_serve_it_claimed(store: Store) -> None:
    index = memory_index({1: {"x": 1, "o": 1, "e": 1, "n": 1}}, ["oxen"])
    await store.execute([Incr("clue:served:1", 1, 60.0)])
    source = composer(index, store, serve_limit=1)
    with pytest.raises(BankError):
        await source.compose(PuzzleSpec(1, 4, 1))
    assert [await store.get(f"clue:served:{i}") for i in (2, 3, 4)] == [b"0"] * 3
    # The o, e and n clues are servable again here too: only the 'x' is missing.
    assert all(source._clue(i) is not None for i in (2, 3, 4))
