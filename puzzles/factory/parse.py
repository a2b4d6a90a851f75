"""Strict parsing of model output and the screening of candidate clues, with reason codes.

A model reply is accepted as JSON only when it is exactly one JSON object with the expected string
fields and nothing else.  The one tolerance is a Markdown fence (```json ... ```) around it:
chat-tuned models add one even when told not to, and the fence carries no content.  Anything else
(prose before the object, a missing or extra field, a non-string value) is ``malformed``: a model
that cannot follow the format is not trusted with the content either.

Every rejection carries one of the ``REASONS`` codes, which job records and stats aggregate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from typing import Final

from puzzles.bank import text_key
from puzzles.draft import ClueDraft
from puzzles.validate import MAX_TEXT, MIN_TEXT, answer_initial, validate_clue

MALFORMED: Final = "malformed"
WRONG_INITIAL: Final = "wrong_initial"
ANSWER_CHANGED: Final = "answer_changed"  # grounded mode: the model answered a different target
LEAKED: Final = "leaked"
TOO_SHORT: Final = "too_short"
TOO_LONG: Final = "too_long"
DUPLICATE: Final = "duplicate"
UNSAFE: Final = "unsafe"
INVALID: Final = "invalid"  # any other validator refusal (answer too short, no a-z initial)
UNSOLVED: Final = "unsolved"  # the solver(s) did not find the answer
AMBIGUOUS: Final = "ambiguous"  # two solvers disagree
LLM_ERROR: Final = "llm_error"  # the pool failed (unavailable, timeout) on every attempt
REASONS: Final = (
    MALFORMED,
    WRONG_INITIAL,
    ANSWER_CHANGED,
    LEAKED,
    TOO_SHORT,
    TOO_LONG,
    DUPLICATE,
    UNSAFE,
    INVALID,
    UNSOLVED,
    AMBIGUOUS,
    LLM_ERROR,
)

_FENCE = re.compile(r"\A```(?:json|JSON)?[ \t]*\n(?P<body>.*?)\n?```\Z", re.DOTALL)
_WORD = re.compile(r"[^\W\d_]+")
# Whole words that keep a clue out of a bank shown to the public.  Short on purpose: it backs up
# the prompt's instruction, it is not a moderation system; operators add their own list.
UNSAFE_WORDS: Final = frozenset(
    {
        "fuck",
        "fucking",
        "shit",
        "cunt",
        "bitch",
        "whore",
        "slut",
        "porn",
        "porno",
        "pornographic",
        "rape",
        "raped",
        "rapist",
        "genocidal",
        "suicide",
        "masturbation",
        "nigger",
        "faggot",
        "retard",
    }
)


class ParseError(ValueError):
    """The reply is not the expected JSON object; ``reason`` is always ``MALFORMED``."""

    reason = MALFORMED


def parse_object(
    text: str, fields: Collection[str], optional: Collection[str] = ()
) -> dict[str, str]:
    """The reply as a dict of exactly ``fields`` (plus any of ``optional``), all strings."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group("body").strip()
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ParseError(f"not JSON: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise ParseError(f"expected an object, got {type(data).__name__}")
    missing = sorted(set(fields) - set(data))
    extra = sorted(set(data) - set(fields) - set(optional))
    if missing or extra:
        raise ParseError(f"fields: missing {missing}, unexpected {extra}")
    if not all(isinstance(value, str) for value in data.values()):
        raise ParseError("every field must be a string")
    return {key: value.strip() for key, value in data.items()}


def parse_candidate(text: str) -> tuple[str, str]:
    """``(answer, clue)`` from a generation reply; raises ``ParseError``."""
    data = parse_object(text, ("answer", "clue"))
    return data["answer"], data["clue"]


def parse_solution(text: str) -> str:
    """The answer from a solver reply (with or without a ``reasoning`` field)."""
    return parse_object(text, ("answer",), optional=("reasoning",))["answer"]


def unsafe_word(text: str, extra: Iterable[str] = ()) -> str | None:
    """The first blocked word of ``text``, or ``None``."""
    blocked = UNSAFE_WORDS | {word.casefold() for word in extra}
    for word in _WORD.findall(text.casefold()):
        if word in blocked:
            return word
    return None


def screen(
    draft: ClueDraft,
    *,
    letter: str,
    expected_answer: str | None = None,
    seen_keys: Collection[str] = (),
    extra_unsafe: Iterable[str] = (),
) -> str | None:
    """The reason code ``draft`` is refused before any solver sees it, or ``None``.

    Checks run cheapest-first and the first failure is reported.  ``seen_keys`` holds the
    normalised texts (``puzzles.bank.text_key``) already in the bank or accepted in this run.
    """
    from gate.answers import normalize_answer

    if expected_answer is not None and normalize_answer(draft.answer) != normalize_answer(
        expected_answer
    ):
        return ANSWER_CHANGED
    if answer_initial(draft.answer) != letter.lower():
        return WRONG_INITIAL
    length = len(draft.text.strip())
    if length < MIN_TEXT:
        return TOO_SHORT
    if length > MAX_TEXT:
        return TOO_LONG
    if unsafe_word(f"{draft.text} {draft.answer}", extra_unsafe):
        return UNSAFE
    reason = validate_clue(draft)
    if reason is not None:
        return LEAKED if "appears in the clue" in reason else INVALID
    if text_key(draft.text) in seen_keys:
        return DUPLICATE
    return None
