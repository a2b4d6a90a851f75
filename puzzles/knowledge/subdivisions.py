"""States and provinces: capitals, subdivisions from their capital, ISO 3166-2 codes.

The table ``puzzles/data/subdivisions.csv`` is curated (capitals are stable, well-documented
facts); ISO 3166-2 codes in it are used only when ``pycountry`` confirms them.

Tiers: US, Canadian and Australian capitals are tier 2, other countries' tier 3, and every
code-based clue tier 3.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

from puzzles.draft import ClueDraft
from puzzles.knowledge._common import (
    choose,
    iter_unique,
    make,
    norm,
    read_csv,
    same_initial,
    shares_prefix,
)

SOURCE = "builtin:subdivisions"
DOMAIN = "Political geography"
_ADJECTIVE = {
    "US": "US",
    "CA": "Canadian",
    "AU": "Australian",
    "DE": "German",
    "IN": "Indian",
    "MX": "Mexican",
    "BR": "Brazilian",
}
_FAMILIAR = frozenset({"US", "CA", "AU"})


@dataclass(frozen=True, slots=True)
class Subdivision:
    country: str
    kind: str
    code: str  # "" when pycountry does not confirm it
    name: str
    capital: str
    as_answer: bool

    @property
    def label(self) -> str:
        """'the US state of Texas' style description used in clue texts."""
        return f"{_ADJECTIVE[self.country]} {self.kind}"

    @property
    def tier(self) -> int:
        return 2 if self.country in _FAMILIAR else 3


@functools.cache
def subdivisions() -> tuple[Subdivision, ...]:
    import pycountry

    result = []
    for row in read_csv("subdivisions.csv"):
        code = row["code"].strip()
        if code and pycountry.subdivisions.get(code=code) is None:
            code = ""
        result.append(
            Subdivision(
                country=row["country"].strip(),
                kind=row["kind"].strip(),
                code=code,
                name=row["name"].strip(),
                capital=row["capital"].strip(),
                as_answer=row["as_answer"].strip() == "1",
            )
        )
    return tuple(result)


def _capital_of() -> Iterator[ClueDraft]:
    templates = (
        "What is the capital of the {label} of {name}?",
        "Which city is the capital of {name}, a {label}?",
        "Name the capital city of the {label} {name}.",
    )
    for s in subdivisions():
        if shares_prefix(s.name, s.capital):
            continue
        yield make(
            domain=DOMAIN,
            text=choose(templates, s.name).format(label=s.label, name=s.name),
            answer=s.capital,
            tier=s.tier,
            source=SOURCE,
            relation="capital_of_subdivision",
        )


def _of_capital() -> Iterator[ClueDraft]:
    templates = (
        "{cap} is the capital of which {label}?",
        "Which {label} has {cap} as its capital?",
        "Name the {label} whose capital city is {cap}.",
    )
    for country in sorted({s.country for s in subdivisions()}):
        members = [s for s in subdivisions() if s.country == country]
        # a capital shared by two subdivisions (Chandigarh) identifies neither
        unique = iter_unique((norm(s.capital), s.name) for s in members)
        for s in members:
            if unique.get(norm(s.capital)) != s.name or not s.as_answer:
                continue
            if shares_prefix(s.capital, s.name):
                continue
            yield make(
                domain=DOMAIN,
                text=choose(templates, s.capital).format(cap=s.capital, label=s.label),
                answer=s.name,
                tier=s.tier,
                source=SOURCE,
                relation="subdivision_of_capital",
            )


def _by_code() -> Iterator[ClueDraft]:
    direct = (
        "Which {label} has the ISO 3166-2 code {code}?",
        "The ISO 3166-2 subdivision code {code} stands for which {label}?",
    )
    hop = (
        "What is the capital of the subdivision with ISO 3166-2 code {code}?",
        "Name the capital city of the region whose ISO 3166-2 code is {code}.",
    )
    for s in subdivisions():
        if not s.code:
            continue
        suffix = s.code.split("-", 1)[1]
        if s.as_answer and not same_initial(suffix, s.name):
            yield make(
                domain=DOMAIN,
                text=choose(direct, s.code).format(label=s.label, code=s.code),
                answer=s.name,
                tier=3,
                source=SOURCE,
                relation="subdivision_of_iso_code",
            )
        if not shares_prefix(s.name, s.capital) and not same_initial(suffix, s.capital):
            yield make(
                domain=DOMAIN,
                text=choose(hop, s.code).format(code=s.code),
                answer=s.capital,
                tier=3,
                source=SOURCE,
                relation="capital_of_subdivision_by_iso_code",
            )


def clues() -> Iterator[ClueDraft]:
    yield from _capital_of()
    yield from _of_capital()
    yield from _by_code()
