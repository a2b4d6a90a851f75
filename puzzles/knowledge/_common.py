"""Small helpers shared by the built-in clue generators.

Every generator turns facts into ``ClueDraft`` objects the same way: a phrasing picked
deterministically from a few templates (so a fresh install always builds the same bank), and a
cross-leak guard that drops facts whose answer can be read off the clue without knowing anything
(e.g. "the demonym of Peru" → "Peruvian": the initial is right there in the question).
"""

from __future__ import annotations

import csv
import re
import unicodedata
import zlib
from collections.abc import Iterator, Sequence
from importlib import resources

from gate.answers import normalize_answer
from puzzles.draft import ClueDraft


def choose(templates: Sequence[str], key: str) -> str:
    """Pick one template for ``key``; crc32 is stable across runs, unlike ``hash``."""
    return templates[zlib.crc32(key.encode("utf-8")) % len(templates)]


def norm(text: str) -> str:
    """Letters only, accents folded to ASCII: 'Brasília' -> 'brasilia'."""
    decomposed = unicodedata.normalize("NFKD", normalize_answer(text))
    return "".join(ch for ch in decomposed if "a" <= ch <= "z")


def initial(text: str) -> str:
    return norm(text)[:1]


def same_initial(subject: str, answer: str) -> bool:
    """For derived answers (language of X, demonym of X, code of X) the shared initial is a giveaway."""
    return initial(subject) == initial(answer)


def shares_prefix(subject: str, answer: str, length: int = 3) -> bool:
    """The answer's initial is guessable from the subject: 'Tunisia' / 'Tunis' and 'Brazil' /
    'Brasília' share their first ``length`` letters, 'Santo Domingo' / 'Dominican Republic' share
    the first four letters of a word with the answer's first word."""
    a, b = norm(subject), norm(answer)
    if len(a) >= length and len(b) >= length and a[:length] == b[:length]:
        return True
    first = norm(re.split(r"[\s\-]+", answer.strip())[0]) if answer.strip() else ""
    words = [norm(w) for w in re.split(r"[\s\-]+", subject)]
    return len(first) >= 4 and any(len(w) >= 4 and w[:4] == first[:4] for w in words)


def long_enough(answer: str) -> bool:
    """Answers shorter than three letters make poor clues (and are easy to guess)."""
    return len(norm(answer)) >= 3


def make(
    *, domain: str, text: str, answer: str, tier: int, source: str, relation: str
) -> ClueDraft:
    return ClueDraft(
        domain=domain, text=text, answer=answer, tier=tier, source=source, relation=relation
    )


def read_csv(name: str) -> list[dict[str, str]]:
    """Rows of a curated table shipped in ``puzzles/data`` (comment lines start with '#')."""
    with resources.files("puzzles").joinpath("data", name).open(encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip() and not line.startswith("#")]
    return [dict(row) for row in csv.DictReader(lines)]


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def iter_unique(items: Iterator[tuple[str, str]]) -> dict[str, str]:
    """Map key -> value keeping only keys that occur once (a hop must identify one entity)."""
    seen: dict[str, str] = {}
    dup: set[str] = set()
    for key, value in items:
        if key in seen and seen[key] != value:
            dup.add(key)
        seen[key] = value
    return {k: v for k, v in seen.items() if k not in dup}
