"""A test-only solver that cheats by reading clue answers from the bank.

It stands in for an agent's language model so tests and benchmarks can pay for passes; it is never
part of the product.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gate.puzzle import PublicPuzzle
from puzzles.models import Clue


class BankSolver:
    def __init__(self, initials: Mapping[int, str]) -> None:
        self.initials = initials

    @classmethod
    async def load(cls, engine: AsyncEngine) -> BankSolver:
        async with engine.connect() as connection:
            rows = await connection.execute(select(Clue.id, Clue.initial))
            return cls({clue_id: initial for clue_id, initial in rows})

    def solve(self, puzzle: PublicPuzzle) -> list[str]:
        return [
            "".join(self.initials[clue.clue_id] for clue in gate.clues) for gate in puzzle.gates
        ]
