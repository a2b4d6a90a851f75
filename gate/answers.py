"""Answer normalisation and constant-time comparison.

Solvers type answers with any case, accents, spaces or punctuation; only the letters count.
NFKC folds compatibility forms (full-width letters, ligatures), ``casefold`` handles case beyond ASCII,
and dropping everything that is not a letter makes "New-York" equal "new york".
"""

from __future__ import annotations

import hmac
import unicodedata


def normalize_answer(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalpha())


def answers_match(submitted: str, expected: str) -> bool:
    """Compare two answers after normalisation without leaking where they differ."""
    return hmac.compare_digest(
        normalize_answer(submitted).encode("utf-8"), normalize_answer(expected).encode("utf-8")
    )
