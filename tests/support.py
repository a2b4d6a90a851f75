"""Test-only helpers shared by several test modules."""

from __future__ import annotations

import random
from collections.abc import Sequence

from gate.pricing import TIER_COST
from gate.puzzle import ComposedPuzzle, PublicClue, PublicGate, PublicPuzzle, PuzzleSpec

CONSONANTS = "bcdfghjklmnpqrstvwxz"


class FixedWordSource:
    """A puzzle source at the unit seam.  Hidden words are random consonant strings: they never occur
    as words in templates or messages, so the suite-wide leak scan has no false positives."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.issued: list[str] = []

    async def compose(self, spec: PuzzleSpec) -> ComposedPuzzle:
        words = tuple(
            "".join(self.rng.choice(CONSONANTS) for _ in range(spec.length))
            for _ in range(spec.gates)
        )
        self.issued.extend(words)
        gates = tuple(
            PublicGate(
                tuple(
                    PublicClue(
                        clue_id=i,
                        domain="Letters",
                        text=f"Clue number {i} of this gate",
                        cost=TIER_COST[spec.tier],
                    )
                    for i in range(len(word))
                )
            )
            for word in words
        )
        return ComposedPuzzle(PublicPuzzle(gates, spec.tier), words)


def answers_for(source: FixedWordSource, gates: int) -> Sequence[str]:
    return source.issued[-gates:]
