"""Clues that give their answer away are refused, each with its own reason (issue 13, item 7).

Published gate sets name the initial in most clues ("a river beginning with P"), which lets a
solver read the hidden word off the clues without answering any; the validator refuses that, the
length-only clue and the answer hidden behind punctuation, and still passes fair clues.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from puzzles.draft import ClueDraft
from puzzles.knowledge import build_report
from puzzles.validate import (
    ANSWER_IN_CLUE,
    LENGTH_ONLY,
    LETTER_PATTERN,
    STATES_INITIAL,
    stems,
    validate_clue,
)


def reason(text: str, answer: str) -> str | None:
    return validate_clue(ClueDraft("Music", text, answer, 2, "test"))


@pytest.mark.parametrize(
    "text",
    [
        "An Italian opera composer beginning with P",
        "An Italian opera composer beginning with p.",
        "An opera composer that starts with the letter P",
        "An opera composer whose name begins with 'P'",
        "Opera composer STARTING WITH \u201cP\u201d, wrote Tosca",
        "Composer of Tosca, first letter P",
        "Composer of Tosca; the first letter of his name is P",
        "Composer of Tosca, initial P",
        "A P-word: the composer of Tosca",
        "A 'P' word: the composer of Tosca",
        "The composer of Tosca, starting with a P",
        "The composer of Tosca, starts with a capital P",
        "The composer of Tosca, begins with an E",  # a wrong initial misleads: refused too
        "The composer of Tosca, whose initial is the letter P",
    ],
)
def test_a_stated_initial_is_refused(text: str) -> None:
    assert reason(text, "Puccini") == STATES_INITIAL


def test_a_letter_pattern_is_refused() -> None:
    assert reason("The composer of Tosca: P _ _ _ _ _ _", "Puccini") == LETTER_PATTERN
    assert reason("The composer of Tosca: P______", "Puccini") == LETTER_PATTERN


@pytest.mark.parametrize(
    "text",
    [
        "A 5-letter word.",
        "This word has six letters",
        "A five letter word",
        "What is it? (5)",
        "Six letters",  # shorter than any fair clue, but this is the reason to give
    ],
)
def test_a_clue_that_only_gives_the_length_is_refused(text: str) -> None:
    assert reason(text, "Paris") == LENGTH_ONLY


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Which band recorded Highway to Hell? AC/DC, of course", "AC/DC"),
        ("The body of water sailors call the red sea", "Red Sea"),
        ("The country abbreviated U.S.A. in short", "USA"),
        ("The late-night host Conan O'Brien", "O'Brien"),
        ("The Swiss city on its lake (Zurich)", "Z\u00fcrich"),
        ("The Swiss city\u2014\u201cZ\u00fcrich\u201d\u2014on its lake", "Zurich"),
    ],
)
def test_answers_behind_punctuation_accents_or_across_words_are_caught(
    text: str, answer: str
) -> None:
    assert reason(text, answer) == ANSWER_IN_CLUE


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Rome is the capital of which country?", "Italy"),  # 'ital' inside 'capital'
        ("The capital of France (5 letters)", "Paris"),  # a length hint beside real content
        ("The two-letter ISO country code DE stands for which country?", "Germany"),
        ("A river beginning with a glacier in the Alps", "Rhone"),  # 'a' is the article
        ("A symphony that opens with A minor chords, by Mendelssohn", "Scottish"),
        ("The chemical element with the symbol K", "Potassium"),  # a symbol is not an initial
        ("The Greek letter that follows alpha", "Beta"),
        ("In other words, a synonym of quick", "Fast"),
        ("Mozart's words were sung in this opera about a barber", "Figaro"),
        ("The r and the a of this word are letters here", "Ra"),  # no U.S.A. style spelling
    ],
)
def test_fair_clues_still_pass(text: str, answer: str) -> None:
    assert reason(text, answer) is None


def test_the_built_in_bank_loses_no_clue_to_the_new_rules() -> None:
    report = build_report()
    assert not {STATES_INITIAL, LETTER_PATTERN, LENGTH_ONLY} & set(report.rejected)


# -- properties ---------------------------------------------------------------------------------

_PHRASES = (
    "beginning with {l}",
    "starts with the letter {l}",
    "whose name begins with '{l}'",
    "first letter {l}",
    "a {l}-word",
    "starting with a {l}",
    "initial {l}",
    'begins with "{l}"',
)
_answers = st.text(alphabet=string.ascii_letters, min_size=3, max_size=10)
_cases = st.sampled_from(("lower", "upper", "title"))


def _cased(text: str, case: str) -> str:
    return {"lower": text.lower(), "upper": text.upper(), "title": text.title()}[case]


@settings(max_examples=200, deadline=None)
@given(answer=_answers, phrase=st.sampled_from(_PHRASES), case=_cases)
def test_any_phrasing_of_the_initial_in_any_case_is_refused(
    answer: str, phrase: str, case: str
) -> None:
    hint = _cased(phrase.format(l=answer[0]), case)
    text = f"A famous composer of operas, {hint}"
    assert reason(text, answer) in (STATES_INITIAL, ANSWER_IN_CLUE)


@settings(max_examples=200, deadline=None)
@given(
    answer=_answers,
    before=st.sampled_from(" (\"'\u201c\u2014-/[*"),
    after=st.sampled_from(" )\"'\u201d\u2014-/].,;:!?*"),
    case=_cases,
)
def test_the_answer_behind_any_punctuation_or_case_is_refused(
    answer: str, before: str, after: str, case: str
) -> None:
    text = f"A famous composer of operas{before}{_cased(answer, case)}{after} indeed"
    assert reason(text, answer) == ANSWER_IN_CLUE


@settings(max_examples=200, deadline=None)
@given(answer=_answers, prefix=st.text(alphabet="xqz", min_size=1, max_size=3))
def test_the_answer_inside_a_longer_word_is_no_leak(answer: str, prefix: str) -> None:
    word = prefix + answer.lower()
    # Only words that do not themselves start with the answer ("xxxx" in "xxxxx" does).
    assume(not any(w.startswith(f) for f in stems(answer) for w in (word, "define", "here")))
    assert reason(f"Define {word} here", answer) is None
