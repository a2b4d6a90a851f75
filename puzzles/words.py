"""The hidden-word list: common English words a gate hides (one clue per letter).

``puzzles/data/words.txt`` is generated offline by ``puzzles/knowledge/build_words.py`` from
``wordfreq`` and committed; reading it needs nothing beyond the standard library.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

WORDS_FILE = "words.txt"
MIN_LENGTH, MAX_LENGTH = 4, 12
_SHAPE = re.compile(r"[a-z]+")


@functools.cache
def load_words() -> tuple[str, ...]:
    """All hidden words, lower-case a-z, sorted, without duplicates."""
    text = resources.files("puzzles").joinpath("data", WORDS_FILE).read_text(encoding="utf-8")
    words = {
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    }
    return tuple(
        sorted(w for w in words if _SHAPE.fullmatch(w) and MIN_LENGTH <= len(w) <= MAX_LENGTH)
    )
