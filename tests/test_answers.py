from gate.answers import answers_match, normalize_answer


def test_normalisation_keeps_only_casefolded_letters() -> None:
    assert normalize_answer("  New-York! ") == "newyork"
    assert (
        normalize_answer("\uff27\uff21\uff2d\uff25") == "game"
    )  # full-width letters fold under NFKC
    assert normalize_answer("Straße") == "strasse"  # casefold, not lower
    assert normalize_answer("12 34") == ""


def test_answers_match_ignores_case_spacing_and_punctuation() -> None:
    assert answers_match("g a m e", "GAME")
    assert not answers_match("gamer", "game")
    assert not answers_match("", "game")
