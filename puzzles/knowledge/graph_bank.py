"""The large clue bank: one-hop and composed clues over the fact graph, validated and deduplicated.

This is separate from ``builtin_clues()`` on purpose: that small bank is seeded by every test and at
every start and must stay instant, while this one (150k+ clues, a few seconds to generate) is added
by ``gate puzzles build`` or in the background by the demo.

A text is kept once (by ``puzzles.bank.text_key``, the bank's own dedup key).  Should two facts ever
produce one text with answers of different initials, the text is dropped altogether: a clue whose
initial depends on which fact the solver thinks of is unanswerable.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from puzzles.bank import text_key
from puzzles.draft import ClueDraft
from puzzles.knowledge import graph_compose, graph_facts
from puzzles.validate import answer_initial, validate_clue

__all__ = ["GraphReport", "graph_clues", "graph_report"]


@dataclass(frozen=True, slots=True)
class GraphReport:
    clues: tuple[ClueDraft, ...]
    rejected: Counter[str] = field(default_factory=Counter)  # validator reason -> count
    duplicates: int = 0  # drafts whose text repeated an earlier one with the same initial
    conflicts: int = 0  # texts dropped because two facts gave them different initials

    def by_tier(self) -> Counter[int]:
        return Counter(d.tier for d in self.clues)

    def by_tier_initial(self) -> dict[int, Counter[str]]:
        out: dict[int, Counter[str]] = {}
        for d in self.clues:
            out.setdefault(d.tier, Counter())[answer_initial(d.answer)] += 1
        return out


def _drafts() -> Iterator[ClueDraft]:
    yield from graph_facts.clues()
    yield from graph_compose.clues()


_CHUNK = 4_000
_pending: list[ClueDraft] = []  # the drafts a forked validator reads (inherited, not pickled)


def _reasons(bounds: tuple[int, int]) -> list[str | None]:
    return [validate_clue(d) for d in _pending[bounds[0] : bounds[1]]]


def _validate(drafts: list[ClueDraft], workers: int) -> list[str | None]:
    """``validate_clue`` of every draft, in order.

    The validator dominates the build (over 100 us a clue), so a single-threaded process spreads
    it over forked workers, which inherit the drafts instead of pickling them.  A process with
    other threads (the demo builds from one, next to the server) validates in place: forking a
    threaded process can deadlock the child.  The result is the same either way.
    """
    global _pending
    serial = (
        workers <= 1
        or len(drafts) <= _CHUNK
        or threading.active_count() > 1
        or "fork" not in multiprocessing.get_all_start_methods()
    )
    if serial:
        return [validate_clue(d) for d in drafts]
    _pending = drafts
    try:
        bounds = [(i, i + _CHUNK) for i in range(0, len(drafts), _CHUNK)]
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            return [reason for part in pool.map(_reasons, bounds) for reason in part]
    finally:
        _pending = []


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@functools.cache
def graph_report(workers: int | None = None) -> GraphReport:
    """Generate, validate and deduplicate once per process; identical on every run (the worker
    count changes only the speed)."""
    kept: dict[str, ClueDraft] = {}
    initials: dict[str, set[str]] = {}
    rejected: Counter[str] = Counter()
    duplicates = 0
    drafts = list(_drafts())
    reasons = _validate(drafts, default_workers() if workers is None else workers)
    for draft, reason in zip(drafts, reasons, strict=True):
        if reason is not None:
            rejected[reason] += 1
            continue
        key = text_key(draft.text)
        letters = initials.setdefault(key, set())
        if key in kept or letters:
            duplicates += 1
        else:
            kept[key] = draft
        letters.add(answer_initial(draft.answer))
    conflicted = {key for key, letters in initials.items() if len(letters) > 1}
    clues = tuple(d for key, d in kept.items() if key not in conflicted)
    return GraphReport(clues, rejected, duplicates, len(conflicted))


def graph_clues() -> Iterator[ClueDraft]:
    """Every clue of the large bank, in a fixed order, each text once."""
    yield from graph_report().clues
