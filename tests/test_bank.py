"""The SQL clue bank, on SQLite and PostgreSQL alike (see ``tests/plugins/sql.py``)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from gate.clock import ManualClock
from gate.puzzle import PuzzleSpec
from gate.store import MemoryStore
from puzzles.bank import ClueBank, text_key
from puzzles.composer import BankComposer
from puzzles.db import create_engine, resolve_url
from puzzles.draft import ClueDraft
from puzzles.migrations import create_schema
from puzzles.models import TIER_EXPECTED_TOKENS, Clue

WORDS = ("game", "mage", "sage", "gems", "games")


def synthetic(
    letters: str, per_letter: int, tier: int, *, domain: str = "Testing"
) -> list[ClueDraft]:
    """Valid drafts: ``per_letter`` clues for each letter; every answer ends in 'orvath'.

    The text names a series, not the initial: a clue stating its initial is refused.
    """
    return [
        ClueDraft(
            domain=domain,
            text=f"Synthetic clue {n} of tier {tier} in series {letter.upper()}",
            answer=f"{letter.upper()}orvath",
            tier=tier,
            source="test:synthetic",
            relation="synthetic",
        )
        for letter in letters
        for n in range(per_letter)
    ]


async def rows(engine: AsyncEngine) -> list[Clue]:
    async with engine.connect() as conn:
        result = await conn.execute(select(Clue).order_by(Clue.id))
        return list(result.all())


async def test_seed_is_idempotent(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    assert await bank.is_empty()
    drafts = synthetic("gamse", 3, tier=1)

    first = await bank.seed(drafts, WORDS)
    assert (first.clues.added, first.clues.rejected, first.clues.duplicates) == (15, 0, 0)
    assert first.words_added == len(WORDS)
    assert first.changed
    assert not await bank.is_empty()

    second = await bank.seed(drafts, WORDS)
    assert (second.clues.added, second.clues.duplicates, second.words_added) == (0, 15, 0)
    assert not second.changed
    counts = await bank.counts()
    assert (counts.total, counts.servable, counts.words) == (15, 15, len(WORDS))


async def test_rejected_drafts_are_stored_with_reason_and_never_served(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    good = synthetic("gamse", 1, tier=2)
    leaky = ClueDraft("Astronomy", "The Mars rover landed on this red planet", "Mars", 2, "test")
    bad_tier = ClueDraft("Math", "A diagram showing how quantities relate", "Graph", 7, "test")
    report = await bank.add_clues([*good, leaky, bad_tier])
    assert (report.added, report.rejected, report.duplicates) == (5, 2, 0)
    assert report.reasons == {
        "answer or its stem appears in the clue": 1,
        "tier must be one of (1, 2, 3)": 1,
    }

    stored = {row.answer: row for row in await rows(engine)}
    assert stored["Mars"].status == "rejected"
    assert stored["Mars"].reject_reason == "answer or its stem appears in the clue"
    assert stored["Graph"].status == "rejected"
    assert stored["Gorvath"].status == "verified"
    assert stored["Gorvath"].reject_reason is None

    index = await bank.load_index()
    served = {c.clue_id for by in index.clues.values() for p in by.values() for c in p}
    assert stored["Mars"].id not in served
    assert stored["Graph"].id not in served
    assert len(served) == 5
    counts = await bank.counts()
    assert counts.by_status == {"rejected": 2, "verified": 5}
    assert counts.by_tier == {2: 5}


async def test_unverified_clues_are_kept_but_not_served(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    report = await bank.add_clues(synthetic("ga", 2, tier=1), status="unverified")
    assert report.added == 4
    assert (await bank.load_index()).clue_count == 0
    assert (await bank.counts()).by_status == {"unverified": 4}
    with pytest.raises(ValueError):
        await bank.add_clues(synthetic("g", 1, tier=1), status="rejected")


async def test_duplicates_by_normalised_text_are_skipped(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    base = ClueDraft("Math", "A diagram that shows how quantities relate", "Graph", 1, "a")
    same = ClueDraft("Math", "  a DIAGRAM that shows how quantities relate!! ", "Graph", 1, "b")
    other_number = ClueDraft("Chemistry", "The element with atomic number 6", "Carbon", 1, "a")
    next_number = ClueDraft("Chemistry", "The element with atomic number 7", "Nitrogen", 1, "a")

    report = await bank.add_clues([base, same, other_number, next_number])
    assert (report.added, report.duplicates) == (3, 1)  # digits count: 6 and 7 differ
    again = await bank.add_clues([same])
    assert (again.added, again.duplicates) == (0, 1)
    assert len(await rows(engine)) == 3
    assert text_key(base.text) == text_key(same.text)


async def test_text_key_of_a_huge_rejected_text_fits(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    huge = ClueDraft("Misc", "word " * 2_000, "Zebra", 1, "test")
    report = await bank.add_clues([huge])
    assert report.rejected == 1
    assert len(text_key(huge.text)) <= 256


async def test_counts_break_down_servable_clues(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.add_clues(
        [
            *synthetic("ga", 2, tier=1, domain="Math"),
            *synthetic("g", 1, tier=3, domain="Art"),
        ]
    )
    await bank.add_words(WORDS)
    counts = await bank.counts()
    assert counts.by_tier == {1: 4, 3: 1}
    assert counts.by_initial == {"a": 2, "g": 3}
    assert counts.by_domain == {"Art": 1, "Math": 4}
    assert counts.by_source == {"test:synthetic": 5}
    assert counts.by_status == {"verified": 5}
    assert (counts.total, counts.servable, counts.retired, counts.words) == (5, 5, 0, 5)


async def test_expected_tokens_default_from_tier(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.add_clues([*synthetic("g", 1, 1), *synthetic("g", 1, 2), *synthetic("g", 1, 3)])
    assert {(r.tier, r.expected_tokens) for r in await rows(engine)} == set(
        TIER_EXPECTED_TOKENS.items()
    )
    assert all(r.times_served == 0 and not r.retired for r in await rows(engine))


async def test_record_serves_adds_in_bulk(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.add_clues(synthetic("gam", 1, tier=1))
    a, b, c = (r.id for r in await rows(engine))
    await bank.record_serves({a: 3, b: 1, c: 0})
    await bank.record_serves({a: 2})
    await bank.record_serves({})
    assert [r.times_served for r in await rows(engine)] == [5, 1, 0]


async def test_retire_stops_serving(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    await bank.add_clues(synthetic("gam", 2, tier=1))
    await bank.add_words(WORDS)
    ids = [r.id for r in await rows(engine)]
    assert await bank.retire(ids[:2]) == 2
    assert await bank.retire(ids[:3]) == 1  # already retired ones are not counted again
    index = await bank.load_index()
    served = {c.clue_id for by in index.clues.values() for p in by.values() for c in p}
    assert served == set(ids[3:])
    counts = await bank.counts()
    assert (counts.retired, counts.servable, counts.total) == (3, 3, 6)
    await bank.retire(ids)
    assert await bank.is_empty()


async def test_words_are_normalised_and_filtered(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    added = await bank.add_words(["Game", "game ", "ab", "x" * 13, "naïve", "it's", "", "mage"])
    assert added == 2
    assert await bank.add_words(["GAME", "sage"]) == 1
    assert (await bank.counts()).words == 3


async def test_index_spells_only_coverable_words_and_holds_no_answers(engine: AsyncEngine) -> None:
    bank = ClueBank(engine)
    # g,a,m,e have clues at tier 1; 's' has none, so "sage"/"gems"/"games" cannot be spelled.
    await bank.seed(synthetic("game", 1, tier=1), WORDS)
    index = await bank.load_index()
    assert index.words_for(1, 4) == ("game", "mage")
    assert index.lengths(1) == (4,)
    assert index.tiers == (1,)
    assert "orvath" not in repr(index.clues).lower()


async def test_thousands_of_clues_seed_in_bulk_and_reseeding_adds_nothing(
    engine: AsyncEngine,
) -> None:
    # Seeding speed is measured by bench/seed.py, not asserted here.
    bank = ClueBank(engine)
    drafts = synthetic("abcdefghijklmnopqrstuvwxyz", 200, tier=2)  # 5,200 clues
    report = await bank.seed(drafts, [f"{w}" for w in WORDS])
    assert report.clues.added == 5_200
    assert (await bank.seed(drafts, WORDS)).clues.duplicates == 5_200


async def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")  # plain URL -> aiosqlite
    try:
        assert engine.dialect.driver == "aiosqlite"
        async with engine.connect() as conn:
            assert (await conn.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await conn.scalar(text("PRAGMA foreign_keys"))) == 1
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
        ("sqlite:///./x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///./x.db", "sqlite+aiosqlite"),
    ],
)
def test_urls_are_rewritten_to_async_drivers(raw: str, expected: str) -> None:
    assert resolve_url(raw).drivername == expected


def test_default_url_comes_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATE_DATABASE_URL", raising=False)
    assert str(resolve_url(None)) == "sqlite+aiosqlite:///./gate.db"
    monkeypatch.setenv("GATE_DATABASE_URL", "postgresql://u@h/gate")
    assert resolve_url(None).drivername == "postgresql+asyncpg"
    with pytest.raises(ValueError):
        resolve_url("mysql://u@h/db")


async def test_libpq_options_become_asyncpg_server_settings(postgres_server_url: str) -> None:
    url = make_url(postgres_server_url).update_query_dict(
        {"options": "-csearch_path=somewhere,public -c application_name=gate-test"}
    )
    engine = create_engine(url.render_as_string(hide_password=False))
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SHOW search_path")) == "somewhere,public"
            assert await conn.scalar(text("SHOW application_name")) == "gate-test"
    finally:
        await engine.dispose()


async def test_builtin_clue_set_seeds_sqlite_and_composes(tmp_path) -> None:
    """The real offline clue set: seeds fast, is idempotent, and serves every tier."""
    from puzzles.knowledge import builtin_clues

    try:
        from puzzles.words import load_words

        words: tuple[str, ...] = load_words()
    except ImportError:  # puzzles/words.py is being written; a small list keeps the test useful
        words = ("planet", "garden", "silver", "market", "orange", "island", "animal", "winter")

    engine = create_engine(f"sqlite:///{tmp_path / 'builtin.db'}")
    try:
        await create_schema(engine)
        bank = ClueBank(engine)
        drafts = list(builtin_clues())
        report = await bank.seed(drafts, words)
        assert report.clues.added + report.clues.rejected == len(drafts)
        assert report.clues.added > 1_000
        assert not (await bank.seed(drafts, words)).changed
        counts = await bank.counts()
        assert set(counts.by_tier) == {1, 2, 3}

        index = await bank.load_index()
        source = BankComposer(index, MemoryStore(clock=ManualClock()))
        for tier in (1, 2, 3):
            puzzle = await source.compose(PuzzleSpec(1, 6, tier))
            assert len(puzzle.words) == 1
            assert puzzle.public.tier == tier
    finally:
        await engine.dispose()
