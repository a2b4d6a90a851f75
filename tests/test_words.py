"""The hidden-word list shipped in puzzles/data/words.txt."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

from puzzles.knowledge.build_words import BLOCKED_NAMES, BLOCKED_WORDS, is_blocked, select
from puzzles.words import load_words


def test_size_and_shape() -> None:
    words = load_words()
    assert 3000 <= len(words) <= 8000
    assert list(words) == sorted(set(words))
    assert all(re.fullmatch(r"[a-z]{4,12}", w) for w in words)


def test_common_words_present_and_blocked_words_absent() -> None:
    words = set(load_words())
    for common in ("game", "water", "house", "light", "music", "garden"):
        assert common in words
    assert not words & BLOCKED_WORDS
    assert not words & BLOCKED_NAMES
    assert not any(is_blocked(w) for w in words)


def test_no_proper_nouns() -> None:
    words = set(load_words())
    for name in ("john", "david", "london", "paris", "google", "trump", "texas", "europe"):
        assert name not in words


def test_lengths_are_spread() -> None:
    lengths = Counter(len(w) for w in load_words())
    assert all(lengths[n] > 0 for n in range(4, 13))


def test_every_initial_is_servable() -> None:
    # each letter of every hidden word needs clues in the bank
    from puzzles.knowledge import builtin_clues

    initials = {c.initial for c in builtin_clues()}
    letters = {ch for w in load_words() for ch in w}
    assert letters <= initials


def test_select_filters() -> None:
    dictionary = frozenset({"apple", "fuck", "house", "aa", "verylongwordindeed"})
    got = select(["house", "John", "fuck", "aa", "apple", "house", "unknown"], dictionary, 10)
    assert got == ["apple", "house"]
    assert select(["house", "apple"], dictionary, 1) == ["house"]


def test_wordfreq_is_not_a_runtime_dependency() -> None:
    code = "import sys, puzzles.words as w; w.load_words(); print('wordfreq' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
