"""Composes per second on an in-memory index with a ``MemoryStore`` (no SQL on this path).

    .venv/bin/python bench/compose.py [--clues-per-letter 200] [--words 20000] [--seconds 2]

The index is synthetic (every letter has the same number of clues per tier, words are random a-z
strings of 4-12 letters), which is the shape that matters for speed.  Two numbers per spec: the
full ``compose`` (with the store batch) and the in-memory picking alone.  The serve limit is set
high so the bench measures the steady state, not the bank running dry.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import string
import time

from gate.clock import ManualClock
from gate.puzzle import PuzzleSpec
from gate.store import MemoryStore
from puzzles.composer import BankComposer
from puzzles.index import BankIndex, IndexedClue


def build_index(clues_per_letter: int, words: int, rng: random.Random) -> BankIndex:
    ids = iter(range(1, 10**9))
    clues = [
        IndexedClue(next(ids), tier, letter, "Bench", f"bench clue {tier} {letter} {n}", 300)
        for tier in (1, 2, 3)
        for letter in string.ascii_lowercase
        for n in range(clues_per_letter)
    ]
    vocabulary = {
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 12))) for _ in range(words)
    }
    return BankIndex.build(clues, vocabulary)


async def rate(source: BankComposer, spec: PuzzleSpec, seconds: float) -> float:
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            await source.compose(spec)
        n += 200
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def pick_rate(source: BankComposer, spec: PuzzleSpec, seconds: float) -> float:
    """The in-memory part only: resolve the spec and pick words and clues (no store call)."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            tier, length = source._resolve(spec)
            used: set[int] = set()
            words: list[str] = []
            gates: list = []
            for _ in range(spec.gates):
                source._add_gate(tier, length, used, words, gates)
        n += 200
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clues-per-letter", type=int, default=200)
    parser.add_argument("--words", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    index = build_index(args.clues_per_letter, args.words, random.Random(7))
    print(f"index: {index!r}")
    for label, rng in (("SystemRandom", None), ("Random", random.Random(1))):
        for spec in (PuzzleSpec(1, 6, 2), PuzzleSpec(3, 8, 2)):
            store = MemoryStore(clock=ManualClock())
            source = BankComposer(index, store, serve_limit=10**9, rng=rng)
            full = await rate(source, spec, args.seconds)
            picks = pick_rate(source, spec, args.seconds)
            print(
                f"{spec.gates}x{spec.length} tier {spec.tier} [{label:12}] "
                f"compose: {full:>9,.0f}/s ({1e6 / full:6.1f} us)   "
                f"picking only: {picks:>9,.0f}/s ({1e6 / picks:6.1f} us)"
            )


if __name__ == "__main__":
    asyncio.run(main())
