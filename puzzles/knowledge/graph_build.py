"""Store the large graph bank in SQL: what ``gate puzzles build`` and the demo's background build run.

Writes go through ``ClueBank.add_clues`` (validation, ``text_key`` dedup, ``ON CONFLICT DO
NOTHING``), so a second build adds nothing.  Drafts are stored in slices of a few thousand, one
transaction each: a live gate on the same SQLite file then waits a moment for its own writes (serve
counts) instead of the whole build.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import func, select

from puzzles.draft import ClueDraft

SOURCE_PREFIX = "builtin:graph:"
_SLICE = 5_000
# A bank holding this many graph clues has been built before; the demo does not build it again
# (``gate puzzles build`` always runs, and completes an interrupted build).
BUILT_THRESHOLD = 100_000


@dataclass(frozen=True, slots=True)
class BuildResult:
    generated: Counter[int] = field(default_factory=Counter)  # tier -> clues generated
    added: Counter[int] = field(default_factory=Counter)  # tier -> clues newly stored
    duplicates: int = 0  # already in the bank (or a text another source stored first)
    rejected: int = 0  # stored as rejected by the bank's validator (0 unless it changed)
    words_added: int = 0
    generate_seconds: float = 0.0
    store_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.generate_seconds + self.store_seconds


def generate(tiers: Collection[int] | None = None) -> tuple[list[ClueDraft], float]:
    """The graph bank's drafts (of ``tiers`` only, when given) and the seconds it took."""
    from puzzles.knowledge.graph_bank import graph_report

    start = time.perf_counter()
    drafts = [d for d in graph_report().clues if tiers is None or d.tier in tiers]
    return drafts, time.perf_counter() - start


async def store(
    database_url: str, drafts: Sequence[ClueDraft], *, words: bool = True
) -> BuildResult:
    """Create the schema if needed and add ``drafts`` (and the word list) to the bank."""
    from puzzles.bank import ClueBank
    from puzzles.db import create_engine
    from puzzles.migrations import create_schema
    from puzzles.words import load_words

    start = time.perf_counter()
    engine = create_engine(database_url)
    added: Counter[int] = Counter()
    duplicates = rejected = words_added = 0
    try:
        await create_schema(engine)
        bank = ClueBank(engine)
        for tier in sorted({d.tier for d in drafts}):
            of_tier = [d for d in drafts if d.tier == tier]
            for i in range(0, len(of_tier), _SLICE):
                report = await bank.add_clues(of_tier[i : i + _SLICE])
                added[tier] += report.added
                duplicates += report.duplicates
                rejected += report.rejected
        if words:
            words_added = await bank.add_words(load_words())
    finally:
        await engine.dispose()
    generated = Counter(d.tier for d in drafts)
    return BuildResult(
        generated=generated,
        added=added,
        duplicates=duplicates,
        rejected=rejected,
        words_added=words_added,
        store_seconds=time.perf_counter() - start,
    )


async def build(database_url: str, tiers: Collection[int] | None = None) -> BuildResult:
    """Generate (in a worker thread, so the caller's event loop keeps running) and store."""
    drafts, generate_seconds = await asyncio.to_thread(generate, tiers)
    result = await store(database_url, drafts)
    return BuildResult(
        generated=result.generated,
        added=result.added,
        duplicates=result.duplicates,
        rejected=result.rejected,
        words_added=result.words_added,
        generate_seconds=generate_seconds,
        store_seconds=result.store_seconds,
    )


async def graph_clue_count(database_url: str) -> int:
    """How many clues of the graph bank the database holds (any status)."""
    from puzzles.db import create_engine
    from puzzles.models import Clue

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(Clue.__table__)
                .where(Clue.__table__.c.source.startswith(SOURCE_PREFIX))
            )
    finally:
        await engine.dispose()
    return count or 0


def build_in_thread(database_url: str) -> BuildResult | None:
    """The demo's background build: run in a (daemon) thread of its own with its own event loops,
    so the validation the bank does per clue never stalls the server's loop.  ``None`` when the
    bank was built already.

    The drafts are generated in this thread itself, not through ``asyncio.to_thread``: executor
    threads are joined when the interpreter exits, so a demo stopped (Ctrl-C) during its first
    start would wait minutes for the generation to finish."""
    if asyncio.run(graph_clue_count(database_url)) >= BUILT_THRESHOLD:
        return None
    drafts, generate_seconds = generate()
    result = asyncio.run(store(database_url, drafts))
    return replace(result, generate_seconds=generate_seconds)
