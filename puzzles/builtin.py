"""The built-in bank: the clues and hidden words that ship with the project, so a fresh install and
CI always have a bank with no model."""

from __future__ import annotations


async def seed_bank(database_url: str) -> tuple[int, int]:
    """Create the schema and add the built-in clues and word list; idempotent.

    Returns (clues added, words added).
    """
    from puzzles.bank import ClueBank
    from puzzles.db import create_engine
    from puzzles.knowledge import builtin_clues
    from puzzles.migrations import create_schema
    from puzzles.words import load_words

    engine = create_engine(database_url)
    try:
        await create_schema(engine)
        report = await ClueBank(engine).seed(builtin_clues(), load_words())
        return report.clues.added, report.words_added
    finally:
        await engine.dispose()
