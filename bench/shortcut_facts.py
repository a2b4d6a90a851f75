"""Public facts an attacker without a model can look answers up in.

Everything here comes from packages anyone can install (``countryinfo``, ``pycountry``,
``periodictable``) and the small tables that ship inside the ``puzzles`` package
(``puzzles/data/*.csv``, read as package resources, exactly as a pip-installed copy would be).
Nothing reads the clue bank.  The tables are deliberately *not* filtered the way the clue
generators filter them: an attacker does not need the exclusions, ambiguity only widens the set of
candidate initials.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources


def fold(text: str) -> str:
    """Casefolded, accents stripped, every non-alphanumeric run one space: the key of every index."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"[a-z0-9]+", ascii_only.casefold()))


def initial_of(answer: str) -> str:
    key = fold(answer).replace(" ", "")
    return key[:1] if key[:1].isalpha() else ""


@dataclass(slots=True)
class Country:
    alpha2: str
    alpha3: str
    primary: str = ""  # the usual English name, which decides the answer's initial
    names: set[str] = field(default_factory=set)
    capital: str = ""
    tlds: set[str] = field(default_factory=set)
    calling: set[str] = field(default_factory=set)
    borders: set[str] = field(default_factory=set)  # alpha-3 codes
    units: set[str] = field(default_factory=set)  # currency unit words ("Dram")
    languages: set[str] = field(default_factory=set)  # language names
    demonym: str = ""
    population: int = 0  # ties between a state and a territory go to the one people mean

    @property
    def name(self) -> str:
        return self.primary or self.alpha2


@dataclass(frozen=True, slots=True)
class Element:
    number: int
    symbol: str
    name: str
    period: int
    group: int | None


@dataclass(frozen=True, slots=True)
class Body:
    name: str
    kind: str
    parent: str
    order: int
    rank: int


@dataclass(frozen=True, slots=True)
class Subdivision:
    country: str
    kind: str
    code: str
    name: str
    capital: str


def _package_csv(name: str) -> list[dict[str, str]]:
    with resources.files("puzzles").joinpath("data", name).open(encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip() and not line.startswith("#")]
    return [dict(row) for row in csv.DictReader(lines)]


# Alternative English names a solver would also know; only the initial matters, so most aliases
# are about finding the country in a clue's text, not about the answer.
_EXTRA_NAMES = {
    "CZ": ["Czechia", "Czech Republic"],
    "TR": ["Turkey", "Turkiye"],
    "CV": ["Cape Verde", "Cabo Verde"],
    "MK": ["North Macedonia", "Macedonia"],
    "SZ": ["Eswatini", "Swaziland"],
    "CI": ["Ivory Coast"],
    "US": ["United States", "USA"],
    "GB": ["United Kingdom", "UK", "Britain"],
    "KR": ["South Korea"],
    "KP": ["North Korea"],
    "RU": ["Russia"],
    "VN": ["Vietnam"],
    "LA": ["Laos"],
    "SY": ["Syria"],
    "IR": ["Iran"],
    "BO": ["Bolivia"],
    "VE": ["Venezuela"],
    "TZ": ["Tanzania"],
    "MD": ["Moldova"],
    "FM": ["Micronesia"],
    "CD": ["DR Congo", "Democratic Republic of the Congo"],
    "CG": ["Republic of the Congo", "Congo"],
    "TL": ["East Timor", "Timor-Leste"],
    "MM": ["Myanmar", "Burma"],
    "VA": ["Vatican City", "Holy See"],
}
# ISO 4217 entries that are funds or accounting units, not money people pay with
_FUND_WORDS = re.compile(r"WIR|Unidad|Fund|Mvdol|Unit|Rights|Sucre|Bond|Code|Dollar \(")
_UNIT_QUALIFIERS = frozenset({"Oro", "Sterling", "Omani", "Soberano", "Fuerte", "Uruguayo"})
_PERIOD_ENDS = (2, 10, 18, 36, 54, 86, 118)
FAMILY_GROUPS = {
    "alkali metal": 1,
    "alkaline earth metal": 2,
    "halogen": 17,
    "noble gas": 18,
    "chalcogen": 16,
    "pnictogen": 15,
}


def period_and_group(z: int) -> tuple[int, int | None]:
    """Period and group by the standard 18-column layout (f-block: no group)."""
    start = 0
    for period, end in enumerate(_PERIOD_ENDS, start=1):
        if z <= end:
            pos, width = z - start, end - start
            if width == 2:
                return period, 1 if pos == 1 else 18
            if width == 8:
                return period, pos if pos <= 2 else pos + 10
            if width == 18:
                return period, pos
            if pos <= 2:
                return period, pos
            if pos == 3:
                return period, 3
            return period, pos - 14 if pos >= 18 else None
        start = end
    return 0, None


class FactBase:
    """Indices from folded names to entities, built once."""

    def __init__(self) -> None:
        self.countries: dict[str, Country] = {}
        self.by_alpha3: dict[str, Country] = {}
        self.country_names: dict[str, set[str]] = {}  # folded name -> alpha2s
        self.capitals: dict[str, set[str]] = {}  # folded capital -> alpha2s
        self.units: dict[str, set[str]] = {}  # folded unit -> alpha2s
        self.languages: dict[str, set[str]] = {}  # folded language -> alpha2s
        self.demonyms: dict[str, set[str]] = {}
        self.lang_codes: dict[str, str] = {}  # iso 639-1/3 code -> name
        self.language_names: set[str] = set()
        self.elements: dict[int, Element] = {}
        self.element_names: dict[str, int] = {}
        self.element_symbols: dict[str, int] = {}
        self.bodies: dict[str, Body] = {}
        self.subdivisions: list[Subdivision] = []
        self.subdivision_names: dict[str, list[Subdivision]] = {}
        self.subdivision_capitals: dict[str, list[Subdivision]] = {}
        self.subdivision_codes: dict[str, Subdivision] = {}
        self.curated: dict[str, str] = {}  # folded text -> answer (a public CSV)
        self._load_countries()
        self._load_languages()
        self._load_elements()
        self._load_bodies()
        self._load_subdivisions()
        self._load_curated()

    # --- loading -------------------------------------------------------------------------------

    def _load_countries(self) -> None:
        import pycountry
        from countryinfo._cache import load_countries

        # entries with a population first: a region filed under its state's code (Wales under GB)
        # must not overwrite the state's own data
        entries = sorted(
            load_countries()["countries"].values(), key=lambda info: not info.get("population")
        )
        for info in entries:
            iso = info.get("ISO") or {}
            a2, a3 = iso.get("alpha2"), iso.get("alpha3")
            if not isinstance(a2, str) or not isinstance(a3, str):
                continue
            if a2 in self.countries and not info.get("population"):
                continue
            c = self.countries.setdefault(a2, Country(alpha2=a2, alpha3=a3))
            if isinstance(info.get("name"), str):
                name = info["name"].removeprefix("The ").strip()
                c.primary = c.primary or name
                c.names.add(name)
            for alt in info.get("altSpellings") or []:
                if isinstance(alt, str) and len(alt) > 3:
                    c.names.add(alt)
            if isinstance(info.get("capital"), str) and not c.capital:
                c.capital = info["capital"].strip()
            c.tlds.update(t.lower() for t in info.get("tld") or [] if isinstance(t, str))
            c.calling.update(
                str(code).lstrip("+").replace("-", "") for code in info.get("callingCodes") or []
            )
            c.borders.update(b for b in info.get("borders") or [] if isinstance(b, str))
            for code in info.get("currencies") or []:
                cur = pycountry.currencies.get(alpha_3=code) if isinstance(code, str) else None
                if cur is not None and not _FUND_WORDS.search(cur.name):
                    # the unit is the last word ("Armenian Dram" -> "Dram"), except where the
                    # name ends in a qualifier ("Cordoba Oro"); only the initial matters
                    words = cur.name.split()
                    c.units.add(words[0] if words[-1] in _UNIT_QUALIFIERS else words[-1])
            for code in info.get("languages") or []:
                lang = pycountry.languages.get(alpha_2=code) if isinstance(code, str) else None
                if lang is not None:
                    c.languages.add(lang.name.removesuffix(" (macrolanguage)"))
            if isinstance(info.get("demonym"), str):
                c.demonym = info["demonym"].strip()
            if isinstance(info.get("population"), int):
                c.population = max(c.population, info["population"])
        for pc in pycountry.countries:
            c = self.countries.get(pc.alpha_2)
            if c is None:
                continue
            for attr in ("name", "common_name"):
                value = getattr(pc, attr, None)
                if value and "," not in value:
                    c.names.add(value)
        for a2, names in _EXTRA_NAMES.items():
            if a2 in self.countries:
                self.countries[a2].names.update(names)
                self.countries[a2].primary = names[0]
        for c in self.countries.values():
            self.by_alpha3[c.alpha3] = c
            for name in c.names:
                self.country_names.setdefault(fold(name), set()).add(c.alpha2)
            if c.capital:
                self.capitals.setdefault(fold(c.capital), set()).add(c.alpha2)
            for unit in c.units:
                self.units.setdefault(fold(unit), set()).add(c.alpha2)
            for lang in c.languages:
                self.languages.setdefault(fold(lang), set()).add(c.alpha2)
            if c.demonym:
                self.demonyms.setdefault(fold(c.demonym), set()).add(c.alpha2)
        # a few spellings of unit words that clue writers use
        for spelling, unit in (("riyal", "rial"), ("shekel", "sheqel"), ("som", "sum")):
            if unit in self.units:
                self.units.setdefault(spelling, set()).update(self.units[unit])

    def _load_languages(self) -> None:
        import pycountry

        for lang in pycountry.languages:
            name = lang.name.removesuffix(" (macrolanguage)")
            self.language_names.add(name)
            for attr in ("alpha_2", "alpha_3"):
                code = getattr(lang, attr, None)
                if code:
                    self.lang_codes.setdefault(code.lower(), name)

    def _load_elements(self) -> None:
        import periodictable

        for el in periodictable.elements:
            if el.number <= 0:
                continue
            period, group = period_and_group(el.number)
            element = Element(el.number, el.symbol, el.name.capitalize(), period, group)
            self.elements[el.number] = element
            self.element_names[fold(element.name)] = el.number
            self.element_symbols[el.symbol] = el.number
        for alias, z in (("aluminum", 13), ("sulphur", 16), ("caesium", 55)):
            self.element_names.setdefault(alias, z)

    def _load_bodies(self) -> None:
        for row in _package_csv("astronomy.csv"):
            body = Body(
                name=row["name"].strip(),
                kind=row["kind"].strip(),
                parent=row["parent"].strip(),
                order=int(row["order"] or 0),
                rank=int(row["rank"] or 0),
            )
            self.bodies[fold(body.name)] = body

    def _load_subdivisions(self) -> None:
        for row in _package_csv("subdivisions.csv"):
            s = Subdivision(
                country=row["country"].strip(),
                kind=row["kind"].strip(),
                code=row["code"].strip(),
                name=row["name"].strip(),
                capital=row["capital"].strip(),
            )
            self.subdivisions.append(s)
            self.subdivision_names.setdefault(fold(s.name), []).append(s)
            self.subdivision_capitals.setdefault(fold(s.capital), []).append(s)
            if s.code:
                self.subdivision_codes[s.code.upper()] = s

    def _load_curated(self) -> None:
        try:
            rows = _package_csv("curated.csv")
        except (FileNotFoundError, KeyError):
            return
        for row in rows:
            if row.get("text") and row.get("answer"):
                self.curated[fold(row["text"])] = row["answer"].strip()

    # --- lookups ---------------------------------------------------------------------------------

    def planets(self) -> list[Body]:
        return sorted(
            (b for b in self.bodies.values() if b.kind == "planet"), key=lambda b: b.order
        )

    def mentions(self, text: str, index: dict[str, object], max_words: int = 6) -> list[str]:
        """Folded keys of ``index`` that occur in ``text`` as whole words, longest first, and not
        inside a longer mention (so 'South Sudan' does not also count as 'Sudan')."""
        words = fold(text).split()
        found: list[tuple[int, int, str]] = []
        for n in range(min(max_words, len(words)), 0, -1):
            for i in range(len(words) - n + 1):
                key = " ".join(words[i : i + n])
                if key in index and not any(s <= i and i + n <= e for s, e, _ in found):
                    found.append((i, i + n, key))
        return [key for _, _, key in sorted(found)]

    def country_set(self, a2s: Iterable[str]) -> list[Country]:
        return [self.countries[a2] for a2 in sorted(set(a2s)) if a2 in self.countries]


@functools.cache
def facts() -> FactBase:
    return FactBase()
