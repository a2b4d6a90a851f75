"""The large graph bank: size, distinct texts, validity, answers checked against the raw packages,
one initial per text, determinism, and ``gate puzzles build`` into a real SQLite file."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from puzzles.bank import text_key
from puzzles.draft import ClueDraft
from puzzles.knowledge import graph
from puzzles.knowledge._common import norm
from puzzles.knowledge.graph_bank import GraphReport, _drafts, graph_report
from puzzles.knowledge.phrasings import NUMBER_WORDS
from puzzles.validate import answer_initial, validate_clue


@pytest.fixture(scope="module")
def report() -> GraphReport:
    return graph_report()


@pytest.fixture(scope="module")
def drafts() -> list[ClueDraft]:
    """Every draft before validation and dedup (generation alone takes a few seconds)."""
    return list(_drafts())


def _of(report: GraphReport, prefix: str) -> list[ClueDraft]:
    return [d for d in report.clues if d.relation.startswith(prefix)]


def _raw_countries() -> list[dict[str, object]]:
    """countryinfo's entries, one per ISO code: aliases ("Burma" next to "Myanmar") repeat a code,
    and the first entry with a population is the one the generators read as well."""
    from countryinfo._cache import load_countries

    by_code: dict[str, dict[str, object]] = {}
    for info in load_countries()["countries"].values():
        iso = info.get("ISO")
        code = iso.get("alpha2") if isinstance(iso, dict) else None
        if isinstance(code, str) and code not in by_code and info.get("population"):
            by_code[code] = info
    return list(by_code.values())


def _letter(text: str) -> str:
    return answer_initial(text)


# --- size and shape -------------------------------------------------------------------------------


def test_the_bank_is_large_in_tiers_two_and_three_and_has_thousands_of_tier_one(
    report: GraphReport,
) -> None:
    tiers = report.by_tier()
    assert tiers[2] + tiers[3] >= 100_000
    assert tiers[1] >= 5_000
    assert set(tiers) == {1, 2, 3}


def test_every_text_is_distinct_by_the_banks_own_key(report: GraphReport) -> None:
    keys = [text_key(d.text) for d in report.clues]
    assert len(keys) == len(set(keys))


def test_every_common_letter_has_clues_in_tiers_two_and_three(report: GraphReport) -> None:
    by = report.by_tier_initial()
    for tier in (2, 3):
        thin = {letter: by[tier][letter] for letter in "abcdefghijklmnoprstuvwyz"}
        assert min(thin.values()) >= 100, thin


def test_drafts_validate_and_the_filter_is_a_safety_net_not_the_generator(
    report: GraphReport,
) -> None:
    # Every kept draft went through validate_clue; re-check a stable sample of them here (the
    # whole bank takes the validator tens of seconds) and every tier-1 clue.
    sample = [d for i, d in enumerate(report.clues) if i % 20 == 0 or d.tier == 1]
    assert [d for d in sample if validate_clue(d) is not None] == []
    assert sum(report.rejected.values()) < len(report.clues) // 100  # templates rarely leak


def test_no_text_names_a_letter_or_a_length() -> None:
    # "two-letter ISO code" is about the code; any other mention of letters would be a hint.
    pattern = re.compile(
        r"(?<!two-)(?<!three-)\bletters?\b|\b(starts?|begins?|beginning) with\b", re.I
    )
    offenders = [d.text for d in graph_report().clues if pattern.search(d.text)]
    assert offenders == []


def test_sources_and_relations_say_what_made_each_clue(report: GraphReport) -> None:
    sources = Counter(d.source for d in report.clues)
    assert set(sources) == {"builtin:graph:fact", "builtin:graph:composed"}
    assert all(d.tier == 3 for d in report.clues if d.source == "builtin:graph:composed")
    relations = {d.relation for d in report.clues}
    assert {"capital<-tld", "capital<-currency", "element<-sum<-name"} <= relations
    assert any(r.count("<-") == 2 for r in relations)  # three-hop compositions exist


# --- one answer, one initial -------------------------------------------------------------------------


def test_no_text_is_kept_for_two_initials(drafts: list[ClueDraft]) -> None:
    initials: dict[str, set[str]] = {}
    for draft in drafts:
        initials.setdefault(text_key(draft.text), set()).add(_letter(draft.answer))
    kept = {text_key(d.text) for d in graph_report().clues}
    assert [k for k in kept if len(initials[k]) > 1] == []


def test_a_neighbour_pair_clue_fits_no_second_country_in_the_raw_data() -> None:
    """Raw countryinfo borders, either side's listing counted: exactly one sovereign country
    borders both members."""
    sovereign = {c.alpha3 for c in graph.sovereign()}
    raw: dict[str, set[str]] = {}
    for info in _raw_countries():
        iso = info.get("ISO")
        a3 = iso.get("alpha3") if isinstance(iso, dict) else None
        if isinstance(a3, str) and a3 in sovereign:
            raw.setdefault(a3, set()).update(b for b in info.get("borders") or [] if b)
    for a3, ns in list(raw.items()):  # one side listing a border is enough to count it
        for n in ns:
            raw.setdefault(n, set()).add(a3)
    pairs = list(graph.neighbour_pairs())
    assert len(pairs) > 300
    for x, y, answer in pairs:
        fits = {c for c in sovereign if {x.alpha3, y.alpha3} <= raw.get(c, set())}
        assert fits == {answer.alpha3}, (x.name, y.name, fits)
    for x, y, z, answer in graph.neighbour_triples():
        fits = {c for c in sovereign if {x.alpha3, y.alpha3, z.alpha3} <= raw.get(c, set())}
        assert fits == {answer.alpha3}, (x.name, y.name, z.name, fits)


def test_sole_neighbour_descriptions_have_one_neighbour_in_the_raw_data() -> None:
    lookup = {c.phrase: c for c in graph.sovereign()}
    raw = {
        info["ISO"]["alpha3"]: set(info.get("borders") or [])
        for info in _raw_countries()
        if isinstance(info.get("ISO"), dict)
    }
    drafts = _of(graph_report(), "country<-sole_neighbour")
    assert drafts
    for d in drafts:
        if d.relation != "country<-sole_neighbour":
            continue
        named = [c for phrase, c in lookup.items() if phrase in d.text]
        subject = max(named, key=lambda c: len(c.phrase))  # "Niger" is inside "Nigeria"
        sovereign = {c.alpha3 for c in graph.sovereign()}
        assert len(raw[subject.alpha3] & sovereign) == 1, d.text


# --- answers against the raw packages -------------------------------------------------------------


def _element_numbers() -> dict[str, int]:
    import periodictable

    return {el.name: el.number for el in periodictable.elements if el.number > 0}


def _number(word: str) -> int:
    return int(word) if word.isdigit() else NUMBER_WORDS.index(word)


def test_element_by_atomic_number_matches_periodictable(report: GraphReport) -> None:
    import periodictable

    drafts = _of(report, "element<-number")
    assert len(drafts) > 1_000
    for d in drafts:
        z = int(re.search(r"\d+", d.text).group())  # type: ignore[union-attr]
        assert periodictable.elements[z].name == d.answer.lower(), d.text


def test_offsets_sums_and_differences_match_periodictable(report: GraphReport) -> None:
    numbers = _element_numbers()
    names = "|".join(sorted(numbers, key=len, reverse=True))
    amount = r"(\d+|" + "|".join(NUMBER_WORDS) + ")"
    checked = Counter[str]()
    for d in report.clues:
        kind = d.relation.split("<-")
        if len(kind) != 3 or kind[0] != "element" or kind[2] != "name":
            continue
        found = [numbers[m] for m in re.findall(rf"\b({names})\b", d.text)]
        target = numbers[d.answer.lower()]
        if kind[1] in ("plus", "minus"):
            (z,) = found
            k = _number(re.search(rf"\b{amount}\b", d.text).group())  # type: ignore[union-attr]
            assert target == (z + k if kind[1] == "plus" else z - k), d.text
        elif kind[1] == "sum":
            assert target == sum(found), d.text
        elif kind[1] == "difference":
            assert target == found[0] - found[1], d.text
        else:
            continue
        checked[kind[1]] += 1
    assert min(checked.values()) > 1_000, checked


def test_capitals_by_internet_domain_match_countryinfo(report: GraphReport) -> None:
    by_tld = {}
    for info in _raw_countries():
        for tld in info.get("tld") or []:
            by_tld.setdefault(tld, []).append(info)
    drafts = _of(report, "capital<-tld")
    assert len(drafts) > 1_000
    for d in drafts:
        (tld,) = re.findall(r"\.[a-z]{2}\b", d.text)
        (info,) = by_tld[tld]  # the domain names one entry of the raw data
        assert norm(str(info["capital"])) == norm(d.answer), d.text  # "Washington, D.C."


def test_countries_by_alpha3_code_match_pycountry(report: GraphReport) -> None:
    import pycountry

    drafts = [d for d in report.clues if d.relation == "country<-iso3"]
    assert len(drafts) > 100
    for d in drafts:
        (code,) = re.findall(r"\b[A-Z]{3}\b", d.text.replace("ISO", ""))
        official = pycountry.countries.get(alpha_3=code)
        assert official is not None
        names = {official.name, getattr(official, "common_name", official.name)}
        assert _letter(d.answer) in {_letter(n) for n in names}, d.text


def test_currency_units_by_alpha3_code_match_pycountry(report: GraphReport) -> None:
    import pycountry

    raw = {
        info["ISO"]["alpha3"]: info.get("currencies") or []
        for info in _raw_countries()
        if isinstance(info.get("ISO"), dict)
    }
    drafts = [d for d in report.clues if d.relation == "currency<-iso3"]
    assert len(drafts) > 500
    for d in drafts:
        (code,) = re.findall(r"\b[A-Z]{3}\b", d.text.replace("ISO", ""))
        names = [pycountry.currencies.get(alpha_3=c) for c in raw[code]]
        words = {norm(w) for n in names if n is not None for w in n.name.split()}
        unit = norm(d.answer)
        assert (
            unit in words or {"riyal": "rial", "som": "sum", "shekel": "sheqel"}.get(unit) in words
        ), d.text


def test_the_element_of_a_calling_code_matches_the_raw_code(report: GraphReport) -> None:
    numbers = _element_numbers()
    raw = {info.get("name"): info.get("callingCodes") for info in _raw_countries()}
    drafts = [d for d in report.clues if d.relation == "element<-calling<-name"]
    assert len(drafts) > 50
    countries = sorted(graph.sovereign(), key=lambda c: len(c.phrase), reverse=True)
    for d in drafts:
        country = next(c for c in countries if d.text.rstrip("?.").endswith(c.phrase))
        codes = next(v for k, v in raw.items() if k == country.name or v == list(country.calling))
        assert numbers[d.answer.lower()] == int(codes[0]), d.text


# --- determinism and the command ------------------------------------------------------------------


def _digest(drafts: list[ClueDraft]) -> str:
    h = hashlib.sha256()
    for d in drafts:
        h.update(f"{d.tier}|{d.domain}|{d.relation}|{d.answer}|{d.text}\n".encode())
    return h.hexdigest()


def test_generation_is_identical_in_another_process_with_another_hash_seed(
    drafts: list[ClueDraft],
) -> None:
    script = (
        "import hashlib\n"
        "from puzzles.knowledge.graph_bank import _drafts\n"
        "h = hashlib.sha256()\n"
        "for d in _drafts():\n"
        "    h.update(f'{d.tier}|{d.domain}|{d.relation}|{d.answer}|{d.text}\\n'.encode())\n"
        "print(h.hexdigest())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == _digest(drafts)


def test_gate_puzzles_build_stores_the_tier_into_sqlite_and_adds_nothing_twice(
    tmp_path: Path, report: GraphReport
) -> None:
    from typer.testing import CliRunner

    from gate.cli import app

    db = tmp_path / "bank.db"
    url = f"sqlite+aiosqlite:///{db}"
    runner = CliRunner()
    first = runner.invoke(app, ["puzzles", "build", "--database-url", url, "--tiers", "1"])
    assert first.exit_code == 0, first.output
    expected = report.by_tier()[1]
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT tier, status, count(*) FROM clues GROUP BY tier, status"
        ).fetchall()
        words = conn.execute("SELECT count(*) FROM words").fetchone()[0]
    assert rows == [(1, "verified", expected)]
    assert words > 1_000
    assert str(expected) in first.output

    second = runner.invoke(app, ["puzzles", "build", "--database-url", url, "--tiers", "1"])
    assert second.exit_code == 0, second.output
    assert f"{expected} already in the bank" in second.output
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM clues").fetchone()[0] == expected


def test_gate_puzzles_build_refuses_an_unknown_tier(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gate.cli import app

    url = f"sqlite+aiosqlite:///{tmp_path / 'bank.db'}"
    result = CliRunner().invoke(app, ["puzzles", "build", "--database-url", url, "--tiers", "7"])
    assert result.exit_code == 2
