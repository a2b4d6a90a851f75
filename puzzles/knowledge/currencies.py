"""Currencies: the currency unit of a country, the country of a unit, and multi-hop variants.

Country -> currency codes come from ``countryinfo``; codes are kept only when ``pycountry``'s
ISO 4217 table still lists them (this drops withdrawn currencies such as the Croatian kuna or the
old Belarusian ruble that countryinfo still reports).  Answers are the bare unit ("Baht",
"Dollar"), and every clue asks for the unit alone, so "Thai baht" cannot change the initial.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from puzzles.draft import ClueDraft
from puzzles.knowledge._common import choose, long_enough, make, norm, shares_prefix
from puzzles.knowledge.countries import (
    Country,
    capital_index,
    countries,
    lookup_tier,
    prominence,
    sentence,
    tld_index,
)

SOURCE = "builtin:currencies"
DOMAIN = "Economics"

# Unit words as they appear in ISO 4217 names, mapped to the usual English spelling.
_UNITS = {
    w.lower(): w
    for w in [
        "Dollar",
        "Euro",
        "Pound",
        "Franc",
        "Peso",
        "Dinar",
        "Rupee",
        "Rial",
        "Riyal",
        "Dirham",
        "Shilling",
        "Krona",
        "Krone",
        "Kwacha",
        "Leu",
        "Lira",
        "Manat",
        "Ruble",
        "Won",
        "Yen",
        "Real",
        "Rand",
        "Baht",
        "Dong",
        "Zloty",
        "Forint",
        "Koruna",
        "Lari",
        "Dram",
        "Som",
        "Tenge",
        "Hryvnia",
        "Lek",
        "Denar",
        "Taka",
        "Afghani",
        "Rupiah",
        "Ringgit",
        "Kip",
        "Riel",
        "Kyat",
        "Ngultrum",
        "Rufiyaa",
        "Tugrik",
        "Birr",
        "Nakfa",
        "Cedi",
        "Naira",
        "Dalasi",
        "Leone",
        "Ouguiya",
        "Ariary",
        "Loti",
        "Lilangeni",
        "Pula",
        "Metical",
        "Kwanza",
        "Quetzal",
        "Lempira",
        "Balboa",
        "Boliviano",
        "Sol",
        "Gourde",
        "Kina",
        "Vatu",
        "Tala",
        "Somoni",
        "Dobra",
        "Escudo",
        "Florin",
        "Guarani",
        "Cordoba",
        "Colon",
    ]
}
# ISO writes "Pa\u2019anga" with an apostrophe; Tongan uses the \u02bbokina.
_SPELLING = {"sheqel": "Shekel", "sum": "Som", "pa\u2019anga": "Pa\u02bbanga"}
# Funds and accounting units that countryinfo lists next to the real currency.
_FUND_CODES = frozenset(
    ["BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "USS", "UYI", "UYW", "XSU", "XUA", "XDR"]
)
# Countries whose everyday name for the unit has another initial ("yuan"/"renminbi", CFA franc,
# convertible mark) or whose data is out of date (Zimbabwe).
_SKIP_COUNTRIES = frozenset({"CN", "BA", "ZW"})
_SKIP_CODES = frozenset({"XOF", "XAF", "XPF"})


def _unit(code: str) -> str | None:
    import pycountry

    currency = pycountry.currencies.get(alpha_3=code)
    if currency is None:
        return None
    words = currency.name.split()
    for word in reversed(words):
        key = word.lower()
        if key in _SPELLING:
            return _SPELLING[key]
        if key in _UNITS:
            return _UNITS[key]
    return None


@functools.cache
def currency_units() -> dict[str, str]:
    """alpha-2 -> currency unit, for countries with exactly one current national currency."""
    result: dict[str, str] = {}
    for c in countries():
        if c.alpha2 in _SKIP_COUNTRIES:
            continue
        codes = [code for code in c.currencies if code not in _FUND_CODES]
        units = {u for code in codes if code not in _SKIP_CODES and (u := _unit(code))}
        if len(codes) == 1 and len(units) == 1:
            result[c.alpha2] = units.pop()
    return result


def _unit_key(unit: str) -> str:
    """'Rial' and 'Riyal' are spellings of one unit name (Iran, Oman, Qatar, Saudi Arabia...)."""
    key = norm(unit)
    return "rial" if key == "riyal" else key


@functools.cache
def _iso_unit_counts() -> dict[str, int]:
    """How many current ISO 4217 currencies carry each unit name (kwacha: Malawi and Zambia)."""
    import pycountry

    counts: dict[str, int] = {}
    for currency in pycountry.currencies:
        unit = _unit(currency.alpha_3)
        if unit and currency.alpha_3 not in _FUND_CODES:
            counts[_unit_key(unit)] = counts.get(_unit_key(unit), 0) + 1
    return counts


def _unique_units() -> dict[str, Country]:
    """Unit -> the single country using it.  A unit counts as unique only when one ISO 4217
    currency has that name *and* one country lists it (the rand is also legal tender in Lesotho
    and Namibia, so it does not identify South Africa)."""
    users: dict[str, set[str]] = {}
    for c in countries():
        for code in c.currencies:
            unit = _unit(code)
            if unit:
                users.setdefault(unit, set()).add(c.alpha2)
    units = currency_units()
    iso_counts = _iso_unit_counts()
    lookup = {c.alpha2: c for c in countries()}
    return {
        unit: lookup[next(iter(a2s))]
        for unit, a2s in users.items()
        if len(a2s) == 1 and next(iter(a2s)) in units and iso_counts.get(_unit_key(unit)) == 1
    }


def _currency_of_country() -> Iterator[ClueDraft]:
    templates = (
        "What is the currency unit of {c} called? Give the unit's name only.",
        "Name the basic unit of money used in {c} (the unit alone, without a national adjective).",
        "Prices in {c} are given in which currency unit? Answer with the unit's name only.",
    )
    lookup = {c.alpha2: c for c in countries()}
    for a2, unit in sorted(currency_units().items()):
        c = lookup[a2]
        if shares_prefix(c.name, unit) or not long_enough(unit):
            continue
        yield make(
            domain=DOMAIN,
            text=sentence(choose(templates, a2).format(c=c.phrase)),
            answer=unit,
            tier=prominence(c),
            source=SOURCE,
            relation="currency_of_country",
        )


def _country_of_currency() -> Iterator[ClueDraft]:
    templates = (
        "Which country's currency unit is the {u}?",
        "The {u} is the national currency of which country?",
    )
    for unit, c in sorted(_unique_units().items()):
        if not c.answerable or shares_prefix(unit, c.name):
            continue
        yield make(
            domain=DOMAIN,
            text=choose(templates, unit).format(u=unit.lower()),
            answer=c.name,
            tier=lookup_tier(c),
            source=SOURCE,
            relation="country_of_currency",
        )


def _currency_via_capital() -> Iterator[ClueDraft]:
    templates = (
        "What is the currency unit of the country whose capital is {cap}? Give the unit only.",
        "Name the unit of money (unit name only) used in the country whose capital is {cap}.",
    )
    units = currency_units()
    for cap, c in sorted(capital_index().items(), key=lambda kv: kv[1].alpha2):
        unit = units.get(c.alpha2)
        if unit is None or not long_enough(unit) or norm(unit) == norm(c.name):
            continue
        yield make(
            domain=DOMAIN,
            text=choose(templates, cap).format(cap=cap),
            answer=unit,
            tier=3,
            source=SOURCE,
            relation="currency_of_country_by_capital",
        )


def _currency_via_tld() -> Iterator[ClueDraft]:
    templates = (
        "What is the currency unit (unit name only) of the country whose internet domain is {k}?",
        "Take the country whose websites end in {k}: what is its currency unit (unit only)?",
    )
    units = currency_units()
    for tld, c in sorted(tld_index().items()):
        unit = units.get(c.alpha2)
        if unit is None or not long_enough(unit) or norm(unit) == norm(c.name):
            continue
        yield make(
            domain=DOMAIN,
            text=choose(templates, tld).format(k=tld),
            answer=unit,
            tier=3,
            source=SOURCE,
            relation="currency_of_country_by_tld",
        )


def clues() -> Iterator[ClueDraft]:
    yield from _currency_of_country()
    yield from _country_of_currency()
    yield from _currency_via_capital()
    yield from _currency_via_tld()
