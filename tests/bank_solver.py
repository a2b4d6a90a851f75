"""A test-only solver that cheats by reading clue answers from the bank.

It stands in for an agent's language model so tests and benchmarks can pay for passes; it is never
part of the product.  Clues reach clients without ids, so it looks them up by their text (unique
in a bank by ``puzzles.bank.text_key``), as a solver with a copy of the bank would.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gate.puzzle import PublicPuzzle
from puzzles.bank import text_key
from puzzles.models import Clue


class BankSolver:
    def __init__(self, initials: Mapping[str, str]) -> None:
        self.initials = initials  # text_key -> initial

    @classmethod
    async def load(cls, engine: AsyncEngine) -> BankSolver:
        async with engine.connect() as connection:
            rows = await connection.execute(select(Clue.text_key, Clue.initial))
            return cls({key: initial for key, initial in rows})

    def solve(self, puzzle: PublicPuzzle) -> list[str]:
        return [
            "".join(self.initials[text_key(clue.text)] for clue in gate.clues)
            for gate in puzzle.gates
        ]
