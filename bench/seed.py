"""How long a fresh install takes to build its clue bank: built-in clue generation in a fresh
process, and seeding the bank (SQLite file) with it.

    python bench/seed.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path


async def seed_seconds(url: str) -> tuple[float, int]:
    from puzzles.bank import ClueBank
    from puzzles.db import create_engine
    from puzzles.knowledge import builtin_clues
    from puzzles.migrations import create_schema
    from puzzles.words import load_words

    drafts, words = list(builtin_clues()), load_words()
    engine = create_engine(url)
    try:
        await create_schema(engine)
        started = time.perf_counter()
        report = await ClueBank(engine).seed(drafts, words)
        return time.perf_counter() - started, report.clues.added
    finally:
        await engine.dispose()


def main() -> None:
    code = (
        "import time; t = time.perf_counter();"
        "from puzzles.knowledge import builtin_clues; n = sum(1 for _ in builtin_clues());"
        "print(n, time.perf_counter() - t)"
    )
    count, generation = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    with tempfile.TemporaryDirectory() as tmp:
        seconds, added = asyncio.run(seed_seconds(f"sqlite+aiosqlite:///{Path(tmp) / 'bank.db'}"))
    print(f"built-in clue generation (fresh process): {count} clues in {float(generation):.2f} s")
    print(f"seeding a SQLite bank: {added} clues in {seconds:.2f} s")


if __name__ == "__main__":
    main()
