"""The built-in, offline clue source: deterministic clues over structured knowledge.

A fresh install (or CI) has no language model, so the bank is seeded from facts that ship with
installed packages (``pycountry``, ``countryinfo``, ``periodictable``) and a few small curated
tables in ``puzzles/data``.  Every generator module exposes ``clues() -> Iterator[ClueDraft]``;
``SOURCES`` lists them explicitly (no registration by import side effects).

``builtin_clues()`` runs them in order, drops drafts that ``puzzles.validate.validate_clue``
refuses and drafts whose text repeats an earlier one, and yields the rest.  ``build_report()``
says how many were refused and why.  The result is computed once per process (well under a
second) and is identical on every run.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType

from puzzles.draft import ClueDraft
from puzzles.knowledge import (
    astronomy,
    countries,
    curated,
    currencies,
    elements,
    languages,
    subdivisions,
)
from puzzles.validate import validate_clue

SOURCES: tuple[ModuleType, ...] = (
    countries,
    currencies,
    languages,
    subdivisions,
    elements,
    astronomy,
    curated,
)

__all__ = ["SOURCES", "BuildReport", "build_report", "builtin_clues", "normalise_text"]


@dataclass(frozen=True, slots=True)
class BuildReport:
    clues: tuple[ClueDraft, ...]
    rejected: Counter[str] = field(default_factory=Counter)  # validator reason -> count
    duplicates: int = 0  # drafts whose normalised text repeated an earlier one


def normalise_text(text: str) -> str:
    """Casefolded words and numbers, punctuation and spacing ignored (digits matter here)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.findall(r"\w+", folded))


@functools.cache
def build_report() -> BuildReport:
    kept: list[ClueDraft] = []
    rejected: Counter[str] = Counter()
    seen: set[str] = set()
    duplicates = 0
    for module in SOURCES:
        for draft in module.clues():
            reason = validate_clue(draft)
            if reason is not None:
                rejected[reason] += 1
                continue
            key = normalise_text(draft.text)
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            kept.append(draft)
    return BuildReport(clues=tuple(kept), rejected=rejected, duplicates=duplicates)


def builtin_clues() -> Iterator[ClueDraft]:
    """Every built-in clue that passes the validator, in a fixed order, without repeats."""
    yield from build_report().clues
