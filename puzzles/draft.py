"""A clue before it enters the bank."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClueDraft:
    domain: str  # knowledge domain shown to the solver, e.g. "Geography"
    text: str  # the question; must not contain the answer or its stem
    answer: str  # canonical answer as a person would write it, e.g. "Buenos Aires"
    tier: int  # 1 easy ... 3 hard (see gate.puzzle.TIERS)
    source: str  # which generator made it, e.g. "builtin:capitals" or "llm:qwen2.5-7b"
    relation: str = ""  # the fact pattern behind it, e.g. "capital_of"; used for stats and dedup

    @property
    def initial(self) -> str:
        from puzzles.validate import answer_initial

        return answer_initial(self.answer)

    def __repr__(self) -> str:  # answers stay out of logs
        return f"ClueDraft(domain={self.domain!r}, text={self.text!r}, tier={self.tier})"
