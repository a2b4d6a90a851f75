"""Hand-written clues from ``puzzles/data/curated.csv`` for letters that structured data covers
thinly (x, q, z, y...).  Each row carries its own domain, relation and tier."""

from __future__ import annotations

from collections.abc import Iterator

from puzzles.draft import ClueDraft
from puzzles.knowledge._common import make, read_csv

SOURCE = "builtin:curated"


def clues() -> Iterator[ClueDraft]:
    for row in read_csv("curated.csv"):
        yield make(
            domain=row["domain"].strip(),
            text=row["text"].strip(),
            answer=row["answer"].strip(),
            tier=int(row["tier"]),
            source=SOURCE,
            relation=row["relation"].strip(),
        )
