"""Answer normalisation and constant-time comparison.

Solvers type answers with any case, accents, spaces or punctuation; only the letters count.
NFKC folds compatibility forms (full-width letters, ligatures), ``casefold`` handles case beyond ASCII,
and dropping everything that is not a letter makes "New-York" equal "new york".
"""

from __future__ import annotations

import hmac
import unicodedata

MAX_ANSWER_LENGTH = 256  # characters of one submitted word; no hidden word comes near it
MAX_ANSWERS = 16  # words one submission may hold, over HTTP and MCP alike


def normalize_answer(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalpha())


def answers_match(submitted: str, expected: str) -> bool:
    """Compare two answers after normalisation without leaking where they differ."""
    return hmac.compare_digest(
        normalize_answer(submitted).encode("utf-8"), normalize_answer(expected).encode("utf-8")
    )


def readable_answer(text: str) -> bool:
    """Whether ``text`` can be judged at all: not too long, no control characters, and its
    letters (after NFKC, which folds full-width and compatibility forms) from one script.

    A word mixing scripts (a Cyrillic 'a', U+0430, among Latin letters) is a confusable spelling no
    hidden word has; refusing it before an attempt is counted spares the solver an attempt
    and says why, where a wrong answer would not.
    """
    if len(text) > MAX_ANSWER_LENGTH:
        return False
    scripts: set[str] = set()
    for ch in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn") and ch not in "\t\n":
            return False
        if ch.isalpha():
            scripts.add(unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0])
    return len(scripts) <= 1
