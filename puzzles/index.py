"""An immutable in-memory snapshot of what the bank can serve.

Composition is on the request path, so it must not touch SQL: the bank is loaded once into a
``BankIndex`` and composers pick from it.  The index holds exactly what a solver may see (domain,
text, expected cost) plus the clue id and its tier/initial for lookup, already packed as
``PublicClue`` objects so composing allocates nothing per clue.  It deliberately holds **no clue
answers**: the composer only needs the answer's initial (the lookup key) and the challenge only
needs the hidden word, so an answer can never leak from serve-time code, however it is logged or
serialised.

Words are pre-filtered per tier: a word is servable at a tier when, for every letter, the tier has
at least as many distinct clues with that initial as the word has copies of the letter (a puzzle
never shows the same clue twice).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from gate.puzzle import PublicClue
from puzzles.models import WORD_MAX, WORD_MIN

_WORD_RE = re.compile(rf"[a-z]{{{WORD_MIN},{WORD_MAX}}}")


class IndexedClue(NamedTuple):
    """A servable clue as read from the bank (no answer: only its initial)."""

    id: int
    tier: int
    initial: str
    domain: str
    text: str
    expected_tokens: int
    measured_by: str = ""  # reference models of an accepted calibration; "" = tier default


@dataclass(frozen=True, slots=True)
class BankIndex:
    """Servable clues by tier and initial, and servable hidden words by tier and length."""

    clues: Mapping[int, Mapping[str, tuple[PublicClue, ...]]]  # tier -> initial -> clues
    words: Mapping[int, Mapping[int, tuple[str, ...]]]  # tier -> length -> words, sorted

    @classmethod
    def build(cls, clues: Iterable[IndexedClue], words: Iterable[str]) -> BankIndex:
        """Index ``clues`` (all assumed servable) and keep the ``words`` they can spell.

        Words that are not lowercase a-z of ``WORD_MIN``..``WORD_MAX`` letters are ignored.
        """
        pools: dict[int, dict[str, list[PublicClue]]] = {}
        for clue in clues:
            if len(clue.initial) != 1 or not "a" <= clue.initial <= "z":
                continue
            public = PublicClue(
                clue.id, clue.domain, clue.text, clue.expected_tokens, clue.measured_by
            )
            pools.setdefault(clue.tier, {}).setdefault(clue.initial, []).append(public)

        frozen_pools = {
            tier: MappingProxyType(
                {letter: tuple(sorted(p, key=lambda c: c.clue_id)) for letter, p in by.items()}
            )
            for tier, by in sorted(pools.items())
        }
        unique_words = sorted({w for w in words if _WORD_RE.fullmatch(w)})
        letter_counts = [(w, Counter(w)) for w in unique_words]

        by_tier: dict[int, Mapping[int, tuple[str, ...]]] = {}
        for tier, by_letter in frozen_pools.items():
            by_length: dict[int, list[str]] = {}
            for word, counts in letter_counts:
                if all(len(by_letter.get(ch, ())) >= n for ch, n in counts.items()):
                    by_length.setdefault(len(word), []).append(word)
            if by_length:
                by_tier[tier] = MappingProxyType(
                    {length: tuple(ws) for length, ws in sorted(by_length.items())}
                )
        return cls(clues=MappingProxyType(frozen_pools), words=MappingProxyType(by_tier))

    def clues_for(self, tier: int, initial: str) -> tuple[PublicClue, ...]:
        return self.clues.get(tier, {}).get(initial, ())

    def words_for(self, tier: int, length: int) -> tuple[str, ...]:
        return self.words.get(tier, {}).get(length, ())

    @property
    def tiers(self) -> tuple[int, ...]:
        """Tiers with at least one servable word."""
        return tuple(self.words)

    def lengths(self, tier: int) -> tuple[int, ...]:
        """Word lengths servable at ``tier``, ascending."""
        return tuple(self.words.get(tier, {}))

    @property
    def clue_count(self) -> int:
        return sum(len(p) for by in self.clues.values() for p in by.values())

    def __repr__(self) -> str:
        words = {tier: sum(len(ws) for ws in by.values()) for tier, by in self.words.items()}
        return f"BankIndex(clues={self.clue_count}, words_by_tier={words})"
