"""The bank's validator: the checks every clue passes before it can be served.

A clue is refused when its answer has no usable initial, when the answer or an obvious stem of it
begins a word of the clue text (the solver could copy it), or when it is too short or too long to be a
fair question.  ``validate_clue`` returns the reason of the first failed check, or ``None``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from gate.answers import normalize_answer
from gate.puzzle import TIERS

if TYPE_CHECKING:
    from puzzles.draft import ClueDraft

MIN_TEXT, MAX_TEXT = 12, 240
MIN_STEM = 4
_TOKEN = re.compile(r"[\s\-/'\u2019.,;:!?()\[\]\"]+")
_SUFFIXES = (
    "ians",
    "ian",
    "ese",
    "ish",
    "ism",
    "ist",
    "ium",
    "ing",
    "ed",
    "es",
    "s",
    "an",
    "a",
    "e",
    "i",
    "y",
)


def answer_initial(answer: str) -> str:
    """The ASCII letter the answer starts with (accents folded): 'Ångström' -> 'a'."""
    letters = normalize_answer(answer)
    if not letters:
        return ""
    base = unicodedata.normalize("NFKD", letters[0])
    ascii_letter = "".join(ch for ch in base if "a" <= ch <= "z")
    return ascii_letter[:1]


def stems(answer: str) -> set[str]:
    """Forms of the answer whose presence in a clue would give it away."""
    words = [normalize_answer(w) for w in re.split(r"[\s\-]+", answer)]
    forms = {normalize_answer(answer)}
    for word in words:
        if len(word) >= MIN_STEM:
            forms.add(word)
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
                forms.add(word[: -len(suffix)])
    return {form for form in forms if len(form) >= MIN_STEM or form == normalize_answer(answer)}


def validate_clue(draft: ClueDraft) -> str | None:
    """Return why ``draft`` cannot be served, or ``None`` when it passes every check."""
    text = draft.text.strip()
    if not draft.domain.strip():
        return "missing domain"
    if draft.tier not in TIERS:
        return f"tier must be one of {TIERS}"
    if not (MIN_TEXT <= len(text) <= MAX_TEXT):
        return f"clue text must be {MIN_TEXT}-{MAX_TEXT} characters"
    if len(normalize_answer(draft.answer)) < 2:
        return "answer too short"
    initial = answer_initial(draft.answer)
    if not initial:
        return "answer has no initial letter a-z"
    tokens = [normalize_answer(token) for token in _TOKEN.split(text)]
    for form in stems(draft.answer):
        # A leak is a word of the clue that starts with the answer or a stem of it ("Korean" for
        # Korea).  Matching inside words would refuse fair clues: "capital" is not a hint for Italy.
        if any(token.startswith(form) for token in tokens if token):
            return "answer or its stem appears in the clue"
    return None
