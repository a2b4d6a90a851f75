"""Acceptance tests for the built-in, offline clue source."""

from __future__ import annotations

import string
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from gate.answers import normalize_answer
from gate.puzzle import TIERS
from puzzles.draft import ClueDraft
from puzzles.knowledge import SOURCES, build_report, builtin_clues, normalise_text
from puzzles.knowledge import countries as countries_mod
from puzzles.knowledge import currencies as currencies_mod
from puzzles.knowledge import elements as elements_mod
from puzzles.knowledge._common import choose, norm, shares_prefix
from puzzles.validate import validate_clue


@pytest.fixture(scope="module")
def clues() -> list[ClueDraft]:
    return list(builtin_clues())


def _find(clues: list[ClueDraft], relation: str, needle: str) -> ClueDraft:
    matches = [c for c in clues if c.relation == relation and needle in c.text]
    assert matches, f"no {relation} clue mentioning {needle!r}"
    return matches[0]


def test_at_least_3000_distinct_clues(clues: list[ClueDraft]) -> None:
    texts = {normalise_text(c.text) for c in clues}
    assert len(texts) == len(clues), "builtin_clues must not repeat a normalised text"
    assert len(texts) >= 3000


def test_every_clue_passes_the_validator(clues: list[ClueDraft]) -> None:
    failing = [(c, validate_clue(c)) for c in clues if validate_clue(c) is not None]
    assert failing == []


def test_rejected_drafts_are_counted() -> None:
    report = build_report()
    assert sum(report.rejected.values()) > 0  # the validator's stem check does bite
    assert set(report.rejected) <= {"answer or its stem appears in the clue"}


def test_fields_are_well_formed(clues: list[ClueDraft]) -> None:
    for c in clues:
        assert c.tier in TIERS
        assert c.source.startswith("builtin:")
        assert c.relation and c.relation == c.relation.lower()
        assert c.domain.strip() == c.domain and c.domain[0].isupper()
        assert len(normalize_answer(c.answer)) >= 3
        assert c.initial in string.ascii_lowercase
        assert not any(ch in c.answer for ch in "()") and not c.answer.endswith(" of"), c.answer
        if "country" in c.relation and c.relation.startswith("country"):
            assert "," not in c.answer, c.answer  # never "Bolivia, Plurinational State of"


def test_at_least_eight_domains(clues: list[ClueDraft]) -> None:
    domains = Counter(c.domain for c in clues)
    big = {d for d, n in domains.items() if n >= 10}
    assert len(big) >= 8, domains
    for expected in (
        "Geography",
        "Chemistry",
        "Economics",
        "Linguistics",
        "Astronomy",
        "Internet",
        "Telecommunications",
        "Political geography",
    ):
        assert expected in big


def test_every_letter_in_every_tier(clues: list[ClueDraft]) -> None:
    grid: dict[str, Counter[int]] = defaultdict(Counter)
    for c in clues:
        grid[c.initial][c.tier] += 1
    for letter in string.ascii_lowercase:
        assert sum(grid[letter].values()) >= 5, (letter, grid[letter])
        for tier in TIERS:
            assert grid[letter][tier] >= 1, (letter, tier, grid[letter])


def test_several_phrasings_per_relation(clues: list[ClueDraft]) -> None:
    by_relation: dict[str, set[str]] = defaultdict(set)
    for c in clues:
        # the template's fixed words: drop digits and the capitalised names filled in
        skeleton = " ".join(w for w in c.text.split()[:3] if w.islower())
        by_relation[c.relation].add(skeleton)
    big = [r for r in by_relation if sum(1 for c in clues if c.relation == r) >= 20]
    assert big
    for relation in big:
        assert len(by_relation[relation]) >= 2, relation


def test_tiers_follow_the_heuristic(clues: list[ClueDraft]) -> None:
    counts = Counter(c.tier for c in clues)
    assert all(counts[t] >= 100 for t in TIERS), counts
    hops = (
        "_by_tld",
        "_by_calling_code",
        "_by_capital",
        "_by_iso",
        "of_planet_by_order",
        "plus_two",
        "minus_two",
        "doubled",
        "halved",
        "common_neighbour",
    )
    multi_hop = [c for c in clues if c.relation.endswith(hops)]
    assert multi_hop and all(c.tier == 3 for c in multi_hop)
    assert _find(clues, "capital_of_country", "France").tier == 1


def test_known_facts(clues: list[ClueDraft]) -> None:
    assert _find(clues, "capital_of_country", " Peru").answer == "Lima"
    assert _find(clues, "capital_of_country_by_tld", ".pe").answer == "Lima"
    assert _find(clues, "currency_of_country_by_capital", "Hanoi").answer == "Dong"
    assert _find(clues, "element_of_atomic_number", " 54").answer == "Xenon"
    assert _find(clues, "element_of_symbol", " Fe").answer == "Iron"
    assert _find(clues, "country_of_calling_code", "+81").answer == "Japan"
    assert _find(clues, "subdivision_of_capital", "Sacramento").answer == "California"
    assert _find(clues, "moon_by_size", "Saturn").answer in {"Titan", "Rhea"}
    oxygen_plus_two = [
        c for c in clues if c.relation == "element_atomic_number_plus_two" and "oxygen" in c.text
    ]
    assert [c.answer for c in oxygen_plus_two] == ["Neon"]


def test_multi_hop_keys_are_unique() -> None:
    # a hop must identify one entity: no calling code, domain or capital maps to two countries
    assert "1" not in countries_mod.calling_index()  # shared by the US, Canada, the Caribbean
    assert "7" not in countries_mod.calling_index()  # Russia and Kazakhstan
    capitals = [c.capital for c in countries_mod.countries() if c.has_capital]
    index = countries_mod.capital_index()
    for cap in index:
        assert sum(1 for other in capitals if norm(other) == norm(cap)) == 1
    units = currencies_mod._unique_units()
    assert "Dollar" not in units and "Euro" not in units and "Kwacha" not in units
    assert "Rand" not in units  # also legal tender in Lesotho and Namibia


def test_no_trivial_cross_leaks(clues: list[ClueDraft]) -> None:
    for c in clues:
        if c.relation in {"capital_of_country", "country_of_capital"}:
            # "Tunis" / "Tunisia": the subject must not start like the answer
            subject = c.text
            assert not any(
                shares_prefix(word, c.answer, 4) for word in subject.split() if word[:1].isupper()
            ), c.text
        if c.relation in {"country_of_tld", "country_of_iso_alpha2", "element_of_symbol"}:
            code = c.text.split()[-1] if c.relation == "element_of_symbol" else c.text
            assert code  # direct code clues exist only where the code's letter differs
    iso = [c for c in clues if c.relation == "country_of_iso_alpha2"]
    assert iso and all(not c.text.split("code ")[1].lower().startswith(c.initial) for c in iso)


def test_ambiguous_names_are_never_answers(clues: list[ClueDraft]) -> None:
    answers = {c.answer for c in clues}
    for name in (
        "Ivory Coast",
        "Myanmar",
        "United States",
        "United Kingdom",
        "Netherlands",
        "Gambia",
        "Bahamas",
        "North Korea",
        "Persian",
        "Chinese",
    ):
        assert name not in answers


def test_withdrawn_currencies_are_skipped() -> None:
    units = currencies_mod.currency_units()
    assert "HR" not in units  # the kuna was replaced by the euro in 2023
    assert "BY" not in units  # countryinfo still lists the old Belarusian ruble
    assert units["JP"] == "Yen"


def test_periodic_table_layout() -> None:
    by_symbol = {e.symbol: e for e in elements_mod.elements()}
    assert (by_symbol["Xe"].period, by_symbol["Xe"].group) == (5, 18)
    assert (by_symbol["Fe"].period, by_symbol["Fe"].group) == (4, 8)
    assert (by_symbol["Hg"].period, by_symbol["Hg"].group) == (6, 12)
    assert (by_symbol["Al"].period, by_symbol["Al"].group) == (3, 13)
    assert by_symbol["La"].group is None and by_symbol["Y"].group is None
    assert len(elements_mod.elements()) == 118


def test_deterministic_order_and_choice() -> None:
    first = [(c.text, c.answer) for c in builtin_clues()]
    second = [(c.text, c.answer) for c in builtin_clues()]
    assert first == second
    assert choose(("a", "b", "c"), "Peru") == choose(("a", "b", "c"), "Peru")


def test_sources_are_listed_explicitly() -> None:
    names = {m.__name__.rsplit(".", 1)[1] for m in SOURCES}
    assert {"countries", "elements", "currencies", "languages", "subdivisions"} <= names
    for module in SOURCES:
        assert callable(module.clues)
        assert all(c.source == module.SOURCE for c in module.clues())


def test_generation_needs_no_import_time_work() -> None:
    # How fast generation runs is measured by bench/seed.py; here only that importing the package
    # builds nothing (the demo's first start pays for generation once, when it seeds).
    code = (
        "import puzzles.knowledge as k, sys;"
        "print(any(m in sys.modules for m in ('pycountry', 'countryinfo', 'periodictable')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_import_does_no_work() -> None:
    code = (
        "import sys, puzzles.knowledge;"
        "print('countryinfo._cache' in sys.modules or 'periodictable' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
