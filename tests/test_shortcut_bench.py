"""Smoke test of the shortcut bench's solvers (bench/shortcut_*.py), offline, on hand-made clues.

The bench itself runs a live gate and is not part of the suite; this only checks that its
adversaries import and read a few clue texts as intended.  No timing is asserted here.
"""

from __future__ import annotations

import pytest

from bench.shortcut_solvers import (
    Cryptogram,
    Learner,
    TemplateSolver,
    WordGuesser,
    normalise_clue,
    top_letter,
)


@pytest.fixture(scope="module")
def solver() -> TemplateSolver:
    return TemplateSolver()


@pytest.mark.parametrize(
    ("text", "initial"),
    [
        # phrasings of the small built-in generators
        ("Which city is the national capital of Paraguay?", "a"),  # Asuncion
        ("What is the capital of the country whose internet domain is .pe?", "l"),  # Lima
        ("Which chemical element has atomic number 14?", "s"),  # Silicon
        ("Add 2 to the atomic number of carbon: which element do you get?", "o"),  # Oxygen
        ("The moon Titan orbits which planet?", "s"),  # Saturn
        ("Which country borders both Bosnia and Herzegovina and Romania?", "s"),  # Serbia
        # compositional wordings: frames around nested noun phrases
        ("Identify the capital of the country whose currency is the dram.", "y"),  # Yerevan
        (
            "Which city serves as the capital of the only country bordering the country "
            "whose internet domain is .pt?",
            "m",  # Madrid
        ),
        ("Name the element whose atomic number is the sum of those of carbon and oxygen.", "s"),
        ("Give the name of the element 3 places after sodium in the periodic table.", "s"),
        ("Which element is meant here: the element with twice as many protons as oxygen?", "s"),
        (
            "What is the basic unit of money in the country bordering both Kenya and Mozambique? "
            "Give the unit's name only.",
            "s",  # Shilling (Tanzania)
        ),
        ("Name the planet whose orbit lies between those of Venus and Mars.", "e"),  # Earth
        ("Which city is the capital of the US state of Texas?", "a"),  # Austin
    ],
)
def test_template_solver_reads_generator_phrasings(
    solver: TemplateSolver, text: str, initial: str
) -> None:
    assert top_letter(solver.solve("", text)) == initial


def test_template_solver_says_nothing_about_what_it_cannot_read(solver: TemplateSolver) -> None:
    assert solver.solve("Music", "Who wrote the tune the milkman whistled this morning?") is None


def test_guesser_spells_the_word_from_known_letters() -> None:
    guesser = WordGuesser(["game", "gate", "mate", "more"])
    dists = [{"g": 1.0}, {"a": 1.0}, {"m": 1.0}, {"e": 1.0}]
    assert guesser.guesses([dists], k=2)[0] == ["game"]
    # unknown letters leave the word list to decide among the words that fit the known ones
    best_two = guesser.guesses([[{"g": 1.0}, None, None, None]], k=2)
    assert {g[0] for g in best_two} == {"game", "gate"}


def test_learner_answers_only_texts_it_saw() -> None:
    learner = Learner()
    learner.observe([["Clue one?", "Clue two!"]], ["ab"])
    assert learner.solve("", "clue ONE") == {"a": 1.0}
    assert normalise_clue("Clue  two!") == normalise_clue("clue two")
    assert learner.solve("", "clue three") is None


def test_cryptogram_recovers_letters_shared_across_gates() -> None:
    words = ["cat", "cot", "dog", "dot", "tag", "toe"]
    crypt = Cryptogram(WordGuesser(words), rounds=12)
    # texts X, Y, Z, W repeat across gates: X Y Z = cat, X W Z = cot forces X=c, Z=t
    crypt.harvest([["X", "Y", "Z"], ["X", "W", "Z"], ["Z", "W", "E"]])
    crypt.fit()
    assert top_letter(crypt.solve("", "X")) == "c"
    assert top_letter(crypt.solve("", "Z")) == "t"
    assert crypt.solve("", "never harvested") is None
