import pytest

from puzzles.draft import ClueDraft
from puzzles.validate import answer_initial, validate_clue


def draft(text: str, answer: str, tier: int = 1) -> ClueDraft:
    return ClueDraft("Geography", text, answer, tier, "test")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("What is the capital city of Kenya?", "Nairobi"),
        ("Rome is the capital of which country?", "Italy"),  # 'ital' inside 'capital' is no hint
        ("Which country borders both Mozambique and Angola?", "Zambia"),
        ("The chemical element in group 14 with the symbol Sn", "Tin"),
    ],
)
def test_fair_clues_pass(text: str, answer: str) -> None:
    assert validate_clue(draft(text, answer)) is None


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("What do North Korean maps call their own country?", "Korea"),
        ("Which city is Nevada's capital city?", "Carson City"),
        ("The people of France speak this language, French, mostly", "French"),
        ("Buenos aires is the answer here", "Buenos Aires"),
        ("Name the PARIS of the north", "Paris"),
    ],
)
def test_clues_that_contain_the_answer_or_its_stem_are_refused(text: str, answer: str) -> None:
    assert validate_clue(draft(text, answer)) == "answer or its stem appears in the clue"


def test_shape_checks_refuse_empty_short_and_untiered_clues() -> None:
    assert validate_clue(draft("short", "Paris")) is not None
    assert validate_clue(draft("What is the capital of France?", "P")) == "answer too short"
    assert validate_clue(draft("What is the capital of France?", "Paris", tier=7)) is not None
    assert validate_clue(draft("What is the capital of France?", "42")) is not None


def test_initials_fold_accents() -> None:
    assert answer_initial("Ångström") == "a"
    assert answer_initial("Écu") == "e"
