"""The bank's validator: the checks every clue passes before it can be served.

A clue is refused when its answer has no usable initial, when it is too short or too long to be a
fair question, or when it gives its answer away: the answer or an obvious stem of it begins a word
of the clue (the solver could copy it), the clue states the answer's initial ("a river beginning
with P": the acrostic is then read off the clues without solving any), it shows a letter pattern
("P _ _ _"), or its only content is the answer's length ("a 5-letter word").  ``validate_clue``
returns the reason of the first failed check, or ``None``.

Texts are compared as words of letters with accents folded, so punctuation, quotes, case and
accents do not hide an answer ("(Zürich)" leaks Zurich).  Matching is at word starts only, never
inside words: "capital" is not a hint for Italy.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING, Final

from gate.answers import normalize_answer
from gate.puzzle import TIERS
from puzzles.draft import answer_initial

if TYPE_CHECKING:
    from puzzles.draft import ClueDraft

MIN_TEXT, MAX_TEXT = 12, 240
MIN_STEM = 4

ANSWER_IN_CLUE: Final = "answer or its stem appears in the clue"
STATES_INITIAL: Final = "clue states the answer's initial letter"
LETTER_PATTERN: Final = "clue shows a letter pattern of the answer"
LENGTH_ONLY: Final = "clue gives only the answer's length"

_TOKEN = re.compile(r"[\W_]+")  # any run of non-letters/digits separates words
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

# -- initial-letter give-aways ----------------------------------------------------------------------

_QUOTES = "'\"\u2018\u2019\u201c\u201d`\u00ab\u00bb"
# A letter naming a musical key ("opens with A minor") is no initial.
_KEY = r"\s+(?:major|minor|flat|sharp)\b"
# One letter, quoted ("'P'"), or bare and not the start of a word ("P." yes, "Paris" no, "I'm" no).
_LETTER = rf"(?:[{_QUOTES}](?P<q>[a-z])[{_QUOTES}]|(?P<bare>[a-z])(?![\w]|['\u2019\-]\w|{_KEY}))"
_ARTICLE = r"(?:(?:the|an?)\s+)?(?:(?:capital|upper-?case|lower-?case|single)\s+)?(?:letter\s+)?(?:an?\s+)?"
_STARTS = (
    r"\b(?:begin|begins|began|beginning|start|starts|started|starting|commenc(?:e|es|ed|ing)"
    r"|open|opens|opening|lead|leads|leading)\s+(?:off\s+)?with\s+"
)
_FIRST = (
    r"\b(?:first|initial|opening|starting|leading|beginning)\s+letter"
    r"(?:\s+of\s+(?:the|its|this|their|his|her|whose)(?:\s+\w+){0,2})?"
    r"\s*(?:is|being|was|=|:|-|\u2013|\u2014)?\s*"
)
_INITIAL = r"\binitial(?:led|ed)?\s*(?:is\s+|of\s+|:\s*)?"
_INITIAL_PHRASES: Final = re.compile(
    rf"(?:{_STARTS}|{_FIRST}|{_INITIAL}){_ARTICLE}{_LETTER}", re.IGNORECASE
)
# "a P-word", "a 'P' word"; and "P words" with a capital that is not itself a word (A, I).
_LETTER_WORD: Final = re.compile(
    rf"(?<![\w'\u2019])(?:[{_QUOTES}][a-z][{_QUOTES}]\s?-?\s?|[a-z]-)words?\b", re.IGNORECASE
)
_CAPITAL_WORD: Final = re.compile(r"(?<![\w'\u2019])[B-HJ-Z]\s+words?\b")
# "the letter P" states an initial only when it is this answer's (a symbol K is fair for potassium).
_THE_LETTER: Final = re.compile(rf"\bletter\s+(?:an?\s+)?{_LETTER}", re.IGNORECASE)
_PATTERN: Final = re.compile(r"(?<!\w)[a-z](?:\s?_){2,}", re.IGNORECASE)

# -- length-only clues ------------------------------------------------------------------------------

_NUMBER = (
    r"(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen"
    r"|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)"
)
_LENGTH: Final = re.compile(
    rf"\b{_NUMBER}\s*-?\s*letters?\b|\blength\s+(?:of\s+)?{_NUMBER}\b"
    r"|\(\s*\d{1,2}(?:\s*[,\-]\s*\d{1,2})*\s*\)",
    re.IGNORECASE,
)
# Words that carry no knowledge: what is left of "This word has six letters" once the length goes.
_FILLER: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "it",
        "its",
        "is",
        "are",
        "has",
        "have",
        "having",
        "with",
        "of",
        "in",
        "for",
        "to",
        "be",
        "and",
        "or",
        "word",
        "words",
        "term",
        "name",
        "answer",
        "clue",
        "thing",
        "something",
        "letter",
        "letters",
        "long",
        "total",
        "length",
        "containing",
        "contains",
        "made",
        "up",
        "spelled",
        "spelt",
        "what",
        "one",
        "which",
        "guess",
        "here",
        "me",
        "my",
        "your",
        "you",
    ]
)


@functools.lru_cache(maxsize=1 << 16)  # words repeat across a bank's texts
def _fold(text: str) -> str:
    """Letters only, casefolded, accents removed: 'Zürich' -> 'zurich'."""
    decomposed = unicodedata.normalize("NFKD", normalize_answer(text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words_of(text: str) -> list[str]:
    """The folded words of ``text``, split at any punctuation or space ("O'Brien" -> o, brien)."""
    parts = _TOKEN.split(unicodedata.normalize("NFKC", text))
    return [w for w in (_fold(part) for part in parts) if w]


@functools.lru_cache(maxsize=1 << 14)  # a bank asks about each answer many times
def stems(answer: str) -> frozenset[str]:
    """Forms of the answer whose presence at the start of a clue word would give it away."""
    whole = _fold(answer)
    forms = {whole}
    for word in words_of(answer):
        if len(word) >= MIN_STEM:
            forms.add(word)
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
                forms.add(word[: -len(suffix)])
    return frozenset(form for form in forms if form and (len(form) >= MIN_STEM or form == whole))


def contains_answer(text: str, answer: str) -> bool:
    """True when ``text`` gives ``answer`` away: a stem begins one of its words, or the answer's
    words follow each other in it ("the red sea" for Red Sea, "AC/DC", "U.S.A." for USA).
    """
    tokens = words_of(text)
    if any(token.startswith(form) for form in stems(answer) for token in tokens):
        return True
    parts = words_of(answer)
    if len(parts) == 1:
        # A one-word answer spelled out letter by letter ("U.S.A."): only exact single letters.
        letters = list(parts[0])
        n = len(letters)
        return n > 1 and any(tokens[i : i + n] == letters for i in range(len(tokens) - n + 1))
    last = len(parts) - 1
    for start in range(len(tokens) - last):
        window = tokens[start : start + last + 1]
        # "the red seas" still names the Red Sea: the last word may go on.
        if window[:last] == parts[:last] and window[last].startswith(parts[last]):
            return True
    return False


def states_initial(text: str, initial: str) -> str | None:
    """Which give-away of the initial ``text`` makes, if any (``STATES_INITIAL`` or
    ``LETTER_PATTERN``).  Any stated initial counts, not only the right one: a wrong one misleads.
    """
    folded = unicodedata.normalize("NFKC", text)
    for match in _INITIAL_PHRASES.finditer(folded):
        bare = match.group("bare")
        # "beginning with a glacier": a lone lowercase "a" before a word is the article.
        if bare == "a" and re.match(r"\s+\w", folded[match.end() :]):
            continue
        return STATES_INITIAL
    if _LETTER_WORD.search(folded) or _CAPITAL_WORD.search(folded):
        return STATES_INITIAL
    for match in _THE_LETTER.finditer(folded):
        if (match.group("q") or match.group("bare") or "").lower() == initial:
            return STATES_INITIAL
    if _PATTERN.search(folded):
        return LETTER_PATTERN
    return None


def length_only(text: str) -> bool:
    """True when the text says the answer's length and nothing else a solver could reason on."""
    if not _LENGTH.search(text):
        return False
    rest = words_of(_LENGTH.sub(" ", text))
    return all(word in _FILLER for word in rest)


def validate_clue(draft: ClueDraft) -> str | None:
    """Return why ``draft`` cannot be served, or ``None`` when it passes every check."""
    text = draft.text.strip()
    if not draft.domain.strip():
        return "missing domain"
    if draft.tier not in TIERS:
        return f"tier must be one of {TIERS}"
    if length_only(text):  # before the size check: "Six letters" is short, but this says why
        return LENGTH_ONLY
    if not (MIN_TEXT <= len(text) <= MAX_TEXT):
        return f"clue text must be {MIN_TEXT}-{MAX_TEXT} characters"
    if len(normalize_answer(draft.answer)) < 2:
        return "answer too short"
    initial = answer_initial(draft.answer)
    if not initial:
        return "answer has no initial letter a-z"
    if contains_answer(text, draft.answer):
        return ANSWER_IN_CLUE
    if (giveaway := states_initial(text, initial)) is not None:
        return giveaway
    return None
