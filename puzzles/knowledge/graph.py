"""The fact graph behind the large clue bank: entities, their functional facts, and the keys that
identify exactly one entity.

Everything here is read from the same sources and exclusions as the small built-in generators
(``countries``, ``currencies``, ``languages``, ``elements``, ``subdivisions``, ``astronomy``), so a
fact the small bank leaves out for being disputed or ambiguous stays out of the large one too.  The
graph only answers two kinds of question, the two a composed clue needs:

* *functional* facts: the one capital, currency unit, main language of a country; the element of
  an atomic number.  A fact that is missing or not functional (two currencies, no usable capital)
  is ``None`` and no clue is built on it.
* *identifying* keys: a capital, internet domain, ISO code, calling code, currency unit, demonym or
  neighbour set that names one country and no other.  Indexes keep only keys with a single owner,
  so a description built from a key always has one referent.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from puzzles.knowledge import astronomy, currencies, languages
from puzzles.knowledge._common import iter_unique, long_enough, norm, shares_prefix
from puzzles.knowledge.countries import (
    _DISPUTED_BORDERS,
    Country,
    borders_complete,
    by_alpha3,
    calling_index,
    capital_index,
    countries,
    prominence,
    tld_index,
)
from puzzles.knowledge.elements import Element, elements
from puzzles.knowledge.subdivisions import Subdivision, subdivisions

__all__ = [
    "Country",
    "Element",
    "Planet",
    "Subdivision",
    "calling_code",
    "calling_owner",
    "capital",
    "capital_owner",
    "common_neighbour",
    "currency",
    "currency_owner",
    "demonym",
    "demonym_owner",
    "element_by_number",
    "elements",
    "language",
    "neighbour_pairs",
    "neighbour_triples",
    "neighbours",
    "planets",
    "prominence",
    "sovereign",
    "subdivisions",
    "tld",
    "tld_owner",
]


def sovereign() -> tuple[Country, ...]:
    """Every country of the graph, in ISO order."""
    return countries()


# --- functional facts of a country ---------------------------------------------------------------


# Capitals people commonly name with another initial: "Delhi" for New Delhi.
_CAPITAL_VARIES = frozenset({"IN"})


def capital(c: Country) -> str | None:
    """The capital when it is undisputed, long enough to clue, and not named after the country:
    'Mexico City' and 'City of San Marino' are also called 'Ciudad de México' and 'San Marino',
    with other initials, and they give the country away."""
    if not c.has_capital or not long_enough(c.capital) or c.alpha2 in _CAPITAL_VARIES:
        return None
    name, cap = norm(c.name), norm(c.capital)
    if shares_prefix(c.name, c.capital) or name in cap or cap in name:
        return None
    return c.capital


def currency(c: Country) -> str | None:
    """The unit of the country's single national currency ('Baht'), asked for as the unit alone."""
    unit = currencies.currency_units().get(c.alpha2)
    if unit is None or not long_enough(unit) or norm(unit) == norm(c.name):
        return None
    return unit


def language(c: Country) -> str | None:
    """The main language where the country lists exactly one known language."""
    return languages.main_languages().get(c.alpha2)


def demonym(c: Country) -> str | None:
    """A demonym that does not start like the country (Dutch, Filipino): the others give the
    initial away whenever the country is named, so the small bank skips them as well."""
    d = c.demonym
    if not d or any(ch in d for ch in ",/") or not long_enough(d):
        return None
    if norm(d)[:1] == norm(c.name)[:1]:
        return None
    return d


def tld(c: Country) -> str | None:
    """The internet country-code domain when it names this country alone."""
    return _tld_by_country().get(c.alpha2)


@functools.cache
def _tld_by_country() -> dict[str, str]:
    return {owner.alpha2: t for t, owner in tld_index().items()}


def calling_code(c: Country) -> str | None:
    """The calling code when no other entry shares it or is a prefix of it (+1 and +7 drop out)."""
    return _calling_by_country().get(c.alpha2)


@functools.cache
def _calling_by_country() -> dict[str, str]:
    return {owner.alpha2: code for code, owner in calling_index().items()}


# --- identifying keys ----------------------------------------------------------------------------


def capital_owner() -> dict[str, Country]:
    """Capital -> its country, for capitals that identify one country."""
    return {cap: c for cap, c in capital_index().items() if c.has_capital}


def tld_owner() -> dict[str, Country]:
    return dict(tld_index())


def calling_owner() -> dict[str, Country]:
    return dict(calling_index())


@functools.cache
def currency_owner() -> dict[str, Country]:
    """Unit -> the single country using it (the rand is also legal in Lesotho: not unique)."""
    return dict(currencies._unique_units())


def currency_key(c: Country) -> str | None:
    """The unit naming ``c`` alone, when there is one (the zloty names Poland; the euro no one)."""
    return _currency_by_country().get(c.alpha2)


@functools.cache
def _currency_by_country() -> dict[str, str]:
    return {owner.alpha2: unit for unit, owner in currency_owner().items()}


@functools.cache
def demonym_owner() -> dict[str, Country]:
    """Demonym -> the one country whose people it names."""
    pairs = ((d, c.alpha2) for c in countries() if (d := demonym(c)))
    lookup = {c.alpha2: c for c in countries()}
    return {d: lookup[a2] for d, a2 in iter_unique(pairs).items()}


# --- neighbours ----------------------------------------------------------------------------------


def neighbours(c: Country) -> tuple[Country, ...] | None:
    """Land neighbours when the data agrees on both sides of every border, else ``None``.

    Borders through Israel and Palestine are disputed: a country touching them gets ``None``, so no
    neighbour clue rests on a disputed line."""
    if not borders_complete(c) or c.alpha3 in _DISPUTED_BORDERS:
        return None
    lookup = by_alpha3()
    if any(a3 in _DISPUTED_BORDERS for a3 in c.borders):
        return None
    return tuple(lookup[a3] for a3 in c.borders if a3 in lookup)


def common_neighbour(group: Iterable[Country]) -> Country | None:
    """The one country bordering every member of ``group``, or ``None`` when there is not exactly
    one.  Every member must have a complete neighbour list: a missing edge could hide a second
    country that fits."""
    sets: list[set[str]] = []
    for member in group:
        ns = neighbours(member)
        if ns is None:
            return None
        sets.append({n.alpha3 for n in ns})
    if not sets:
        return None
    common = set.intersection(*sets)
    if len(common) != 1:
        return None
    return by_alpha3()[common.pop()]


def neighbour_pairs() -> Iterator[tuple[Country, Country, Country]]:
    """(x, y, answer): x and y (in ISO order) share exactly one neighbour, the answer."""
    for x, y in itertools.combinations(countries(), 2):
        answer = common_neighbour((x, y))
        if answer is not None and answer.alpha2 not in (x.alpha2, y.alpha2):
            yield x, y, answer


def neighbour_triples() -> Iterator[tuple[Country, Country, Country, Country]]:
    """(x, y, z, answer) where the three share one neighbour but no two of them alone pin it
    down (otherwise a pair clue already says it more simply)."""
    pool = [c for c in countries() if (ns := neighbours(c)) is not None and len(ns) >= 2]
    by_neighbour: dict[str, list[Country]] = {}
    for c in pool:
        for n in neighbours(c) or ():
            by_neighbour.setdefault(n.alpha3, []).append(c)
    seen: set[tuple[str, str, str]] = set()
    for members in by_neighbour.values():
        for x, y, z in itertools.combinations(members, 3):
            key = (x.alpha3, y.alpha3, z.alpha3)
            if key in seen:
                continue
            seen.add(key)
            if any(common_neighbour(p) is not None for p in ((x, y), (x, z), (y, z))):
                continue
            answer = common_neighbour((x, y, z))
            if answer is not None:
                yield x, y, z, answer


# --- elements and planets ------------------------------------------------------------------------


@functools.cache
def element_by_number() -> dict[int, Element]:
    return {el.number: el for el in elements()}


@dataclass(frozen=True, slots=True)
class Planet:
    name: str
    order: int  # from the Sun


@functools.cache
def planets() -> tuple[Planet, ...]:
    return tuple(
        sorted(
            (Planet(b.name, b.order) for b in astronomy.bodies() if b.kind == "planet"),
            key=lambda p: p.order,
        )
    )


@functools.cache
def moons() -> tuple[tuple[str, Planet], ...]:
    """(moon, the planet it orbits), for the moons of planets in the curated table."""
    by_name = {p.name: p for p in planets()}
    return tuple(
        (b.name, by_name[b.parent])
        for b in astronomy.bodies()
        if b.kind == "moon" and b.parent in by_name
    )


@functools.cache
def language_codes() -> tuple[tuple[str, str, str], ...]:
    """(ISO 639-1 code, ISO 639-3 code or "", plain English name), in code order."""
    alpha3 = languages._alpha3()
    return tuple(
        (code, alpha3.get(code, ""), name)
        for code, name in sorted(languages.language_names().items())
        if long_enough(name)
    )
