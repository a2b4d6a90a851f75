"""The oracle: stands for a language model that solved the clues.

It is the only code of the shortcut bench that reads the clue bank (the gate's own SQLite file),
and it is used for three things only: to solve challenges whose solutions the record-and-learn
adversary then *observes* (as if it watched a model solve them), to drive the honest
"model-speed" client, and to score the adversaries' per-clue answers for the report.  No adversary
ever calls it for an answer.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bench.shortcut_facts import fold


@dataclass(frozen=True, slots=True)
class Truth:
    initial: str
    source: str
    domain: str


class Oracle:
    def __init__(self, db: Path) -> None:
        self.by_text: dict[str, Truth] = {}
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            for text, initial, source, domain in conn.execute(
                "SELECT text, initial, source, domain FROM clues WHERE initial != ''"
            ):
                self.by_text[fold(text)] = Truth(str(initial).lower(), str(source), str(domain))

    def truth(self, text: str) -> Truth | None:
        return self.by_text.get(fold(text))

    def solve(self, gates: list[list[str]]) -> list[str] | None:
        """The hidden words, or None if some clue is not in the bank (should not happen)."""
        words = []
        for texts in gates:
            letters = [t.initial if (t := self.truth(text)) else "" for text in texts]
            if not all(letters):
                return None
            words.append("".join(letters))
        return words
