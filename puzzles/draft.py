"""A clue before it enters the bank."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from gate.answers import normalize_answer


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
        return answer_initial(self.answer)

    def __repr__(self) -> str:  # answers stay out of logs
        return f"ClueDraft(domain={self.domain!r}, text={self.text!r}, tier={self.tier})"


def answer_initial(answer: str) -> str:
    """The ASCII letter the answer starts with (accents folded): 'Ångström' -> 'a'."""
    letters = normalize_answer(answer)
    if not letters:
        return ""
    base = unicodedata.normalize("NFKD", letters[0])
    ascii_letter = "".join(ch for ch in base if "a" <= ch <= "z")
    return ascii_letter[:1]
