"""Country facts: capitals, internet domains, ISO codes, calling codes, neighbours, demonyms.

Data comes from ``countryinfo`` (capitals, borders, codes, population) cross-checked with
``pycountry`` (ISO 3166-1).  Only sovereign states are used, and states whose capital or name is
disputed or ambiguous in a way that changes the *initial* of the answer are kept out of the
relations where it matters (the solver only submits initials, so "Ivory Coast" vs
"Côte d'Ivoire" would make a clue unanswerable).

Tier heuristic (documented in ``prominence``): well-known direct facts about populous or European
countries are tier 1, other direct facts tier 2, lookups of codes for small countries and every
multi-hop clue tier 3.

Why this module is over 400 lines: most of it is data (curated exclusions, demonyms, relation
phrasings) that only these generators read; the code itself is a few small functions.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

from puzzles.draft import ClueDraft
from puzzles.knowledge._common import (
    choose,
    iter_unique,
    long_enough,
    make,
    norm,
    same_initial,
    shares_prefix,
)

SOURCE = "builtin:countries"

# ISO 3166-1 entries that are not sovereign states (dependencies, territories, special areas)
# or whose statehood is disputed; none of them is used as a subject or an answer.
_NOT_SOVEREIGN = frozenset(
    [
        "AS",
        "AI",
        "AQ",
        "AW",
        "AX",
        "BL",
        "BM",
        "BQ",
        "BV",
        "CC",
        "CK",
        "CW",
        "CX",
        "EH",
        "FK",
        "FO",
        "GF",
        "GG",
        "GI",
        "GL",
        "GP",
        "GS",
        "GU",
        "HK",
        "HM",
        "IM",
        "IO",
        "JE",
        "KY",
        "MF",
        "MO",
        "MP",
        "MQ",
        "MS",
        "NC",
        "NF",
        "NU",
        "PF",
        "PM",
        "PN",
        "PR",
        "PS",
        "RE",
        "SH",
        "SJ",
        "SX",
        "TC",
        "TF",
        "TK",
        "TW",
        "UM",
        "VG",
        "VI",
        "WF",
        "YT",
        "XK",
        "AN",
        "CS",
    ]
)
# Countries whose capital is contested, split, recently moved or renamed to a different initial
# (Bolivia, South Africa, Sri Lanka, Eswatini, Burundi, Kazakhstan, Israel, Benin, Côte d'Ivoire),
# has no official capital (Nauru) or whose data is odd (Kiribati, Palau): no capital relations.
_NO_CAPITAL = frozenset(
    ["BO", "ZA", "LK", "SZ", "BI", "KZ", "IL", "BJ", "CI", "NR", "KI", "PW", "VA"]
)
# Countries a solver could name with a different initial ("Ivory Coast" / "Côte d'Ivoire",
# "Burma", "Holland", "USA" / "America", "Britain", "The Gambia", "Korea", ...): never an answer.
_NOT_ANSWER = frozenset(
    ["CI", "TL", "MM", "SZ", "MK", "GM", "BS", "CD", "CG", "US", "GB", "NL", "FM", "KR", "KP", "VA"]
)
# Countries whose calling-code data is wrong in countryinfo (Kazakhstan shares +7 with Russia).
_BAD_CALLING = frozenset({"KZ", "RU"})
# countryinfo lists a few old-fashioned names; these are the usual English ones.
_NAME_OVERRIDES = {
    "CZ": "Czech Republic",
    "TR": "Turkey",
    "CV": "Cape Verde",
    "MK": "North Macedonia",
    "SZ": "Eswatini",
}
# Island states that countryinfo wrongly gives a land border (Sri Lanka -> India).
_NO_LAND_BORDER = frozenset({"LKA"})
# Borders involving Israel/Palestine are disputed: no neighbour relations through them.
_DISPUTED_BORDERS = frozenset({"ISR"})
# Capitals whose countryinfo spelling is not the usual English one.
_CAPITAL_OVERRIDES = {"US": "Washington, D.C."}
# Names that read with a definite article inside a sentence ("the Netherlands").
_ARTICLE = frozenset(
    [
        "US",
        "GB",
        "NL",
        "PH",
        "AE",
        "CF",
        "CZ",
        "DO",
        "SB",
        "MH",
        "MV",
        "KM",
        "SC",
        "CD",
        "CG",
        "FM",
        "BS",
        "GM",
    ]
)


@dataclass(frozen=True, slots=True)
class Country:
    alpha2: str
    alpha3: str
    name: str
    capital: str
    population: int
    region: str
    tlds: tuple[str, ...]
    calling: tuple[str, ...]
    borders: tuple[str, ...]  # alpha-3 codes of sovereign land neighbours
    currencies: tuple[str, ...]
    languages: tuple[str, ...]
    demonym: str

    @property
    def has_capital(self) -> bool:
        return bool(self.capital) and self.alpha2 not in _NO_CAPITAL

    @property
    def answerable(self) -> bool:
        return self.alpha2 not in _NOT_ANSWER

    @property
    def phrase(self) -> str:
        """The name as it reads inside a sentence."""
        return f"the {self.name}" if self.alpha2 in _ARTICLE else self.name


def _clean(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _clean_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v.strip() for v in value if isinstance(v, str) and v.strip())


@functools.cache
def countries() -> tuple[Country, ...]:
    """Sovereign countries with usable data, sorted by ISO code (loaded once per process)."""
    import pycountry
    from countryinfo._cache import load_countries  # the package's own cached JSON loader

    raw = load_countries()["countries"]
    by_alpha2: dict[str, dict[str, object]] = {}
    for info in raw.values():
        iso = info.get("ISO") or {}
        code = iso.get("alpha2") if isinstance(iso, dict) else None
        # duplicates (e.g. "Burma" vs "Myanmar"): keep the first entry with a population
        if isinstance(code, str) and code not in by_alpha2 and info.get("population"):
            by_alpha2[code] = info
    result: list[Country] = []
    for code, info in sorted(by_alpha2.items()):
        if code in _NOT_SOVEREIGN or pycountry.countries.get(alpha_2=code) is None:
            continue
        country = _country(code, info)
        if country is not None:
            result.append(country)
    known = {c.alpha3 for c in result} - _NO_LAND_BORDER
    raw_borders = {c.alpha3: set(c.borders) & known for c in result}
    # countryinfo's border lists are not always symmetric (China omits Nepal, Iraq omits
    # Kuwait): keep an edge only when both sides list it, and flag every touched country so
    # relations that need the complete neighbour list can skip it.
    strict = {
        a3: {n for n in ns if a3 in raw_borders.get(n, set())} for a3, ns in raw_borders.items()
    }
    incomplete = {a3 for a3, ns in raw_borders.items() if ns != strict[a3]}
    incomplete |= {n for a3, ns in raw_borders.items() for n in ns - strict[a3]}
    incomplete |= {
        a3 for a3 in raw_borders for n, ns in raw_borders.items() if a3 in ns - strict[n]
    }
    _INCOMPLETE_BORDERS.clear()
    _INCOMPLETE_BORDERS.update(incomplete | _NO_LAND_BORDER | _DISPUTED_BORDERS)
    return tuple(_with_borders(c, tuple(sorted(strict.get(c.alpha3, set())))) for c in result)


# alpha-3 codes whose border list in the data disagrees with a neighbour's (filled by countries())
_INCOMPLETE_BORDERS: set[str] = set()


def borders_complete(country: Country) -> bool:
    countries()
    return country.alpha3 not in _INCOMPLETE_BORDERS


def _with_borders(country: Country, borders: tuple[str, ...]) -> Country:
    from dataclasses import replace

    return replace(country, borders=borders)


def _country(code: str, info: dict[str, object]) -> Country | None:
    iso = info.get("ISO")
    alpha3 = iso.get("alpha3") if isinstance(iso, dict) else None
    name = _NAME_OVERRIDES.get(code, _clean(info.get("name")))
    name = name.removeprefix("The ")
    if not isinstance(alpha3, str) or not name or any(ch in name for ch in ",()/"):
        return None
    capital = _clean(info.get("capital"))
    if any(ch in capital for ch in ",()/"):
        capital = ""
    capital = _CAPITAL_OVERRIDES.get(code, capital)
    population = info.get("population")
    return Country(
        alpha2=code,
        alpha3=alpha3,
        name=name,
        capital=capital,
        population=population if isinstance(population, int) else 0,
        region=_clean(info.get("region")),
        tlds=tuple(t for t in _clean_list(info.get("tld")) if t.isascii()),
        calling=_clean_list(info.get("callingCodes")),
        borders=_clean_list(info.get("borders")),
        currencies=_clean_list(info.get("currencies")),
        languages=_clean_list(info.get("languages")),
        demonym=_clean(info.get("demonym")),
    )


def prominence(country: Country) -> int:
    """Tier of a direct fact about ``country``: big or European countries are common knowledge."""
    pop = country.population
    if pop >= 20_000_000 or (country.region == "Europe" and pop >= 5_000_000):
        return 1
    if pop >= 3_000_000 or country.region == "Europe":
        return 2
    return 3


def lookup_tier(country: Country) -> int:
    """Code lookups (domains, ISO, dialling codes) are a step harder than the plain fact."""
    return 2 if prominence(country) == 1 else 3


def sentence(text: str) -> str:
    """Capitalise a formatted template that may start with 'the Netherlands'."""
    return text[:1].upper() + text[1:]


@functools.cache
def by_alpha3() -> dict[str, Country]:
    return {c.alpha3: c for c in countries()}


@functools.cache
def tld_index() -> dict[str, Country]:
    """Internet domain -> country, for domains that name exactly one country."""
    pairs = ((tld, c.alpha2) for c in countries() for tld in c.tlds)
    unique = iter_unique(pairs)
    lookup = {c.alpha2: c for c in countries()}
    return {tld: lookup[a2] for tld, a2 in unique.items() if tld.startswith(".") and len(tld) == 3}


@functools.cache
def calling_index() -> dict[str, Country]:
    """Calling code -> country, only for codes that no other entry (even a territory) shares and
    that are no prefix of another entry's code: +1 (NANP) and +7 (Russia/Kazakhstan) drop out."""
    from countryinfo._cache import load_countries

    every: list[tuple[str, str]] = []
    for info in load_countries()["countries"].values():
        iso = info.get("ISO") or {}
        a2 = iso.get("alpha2") if isinstance(iso, dict) else None
        for code in _clean_list(info.get("callingCodes")):
            digits = code.lstrip("+").replace("-", "")
            if digits.isdigit() and isinstance(a2, str):
                every.append((digits, a2))
    result: dict[str, Country] = {}
    lookup = {c.alpha2: c for c in countries()}
    for c in countries():
        if c.alpha2 in _BAD_CALLING or len(c.calling) != 1:
            continue
        code = c.calling[0]
        if not code.isdigit():
            continue
        clash = any(
            a2 != c.alpha2 and (d.startswith(code) or code.startswith(d)) for d, a2 in every
        )
        if not clash:
            result[code] = lookup[c.alpha2]
    return result


@functools.cache
def capital_index() -> dict[str, Country]:
    """Capital -> country, only for capitals that identify one country."""
    pairs = ((norm(c.capital), c.alpha2) for c in countries() if c.has_capital)
    unique = iter_unique(pairs)
    lookup = {c.alpha2: c for c in countries()}
    return {lookup[a2].capital: lookup[a2] for a2 in unique.values()}


# --- clue families -------------------------------------------------------------------------------


def _capital_of_country() -> Iterator[ClueDraft]:
    templates = (
        "What is the capital city of {c}?",
        "Name the capital of {c}.",
        "Which city is the national capital of {c}?",
    )
    for c in countries():
        if not c.has_capital or shares_prefix(c.name, c.capital) or not long_enough(c.capital):
            continue
        yield make(
            domain="Geography",
            text=sentence(choose(templates, c.alpha2).format(c=c.phrase)),
            answer=c.capital,
            tier=prominence(c),
            source=SOURCE,
            relation="capital_of_country",
        )


def _country_of_capital() -> Iterator[ClueDraft]:
    templates = (
        "{cap} is the capital of which country?",
        "Which country has {cap} as its capital city?",
        "Name the country whose capital is {cap}.",
    )
    for cap, c in sorted(capital_index().items(), key=lambda kv: kv[1].alpha2):
        if not c.answerable or shares_prefix(cap, c.name):
            continue
        yield make(
            domain="Geography",
            text=sentence(choose(templates, c.alpha2).format(cap=cap)),
            answer=c.name,
            tier=prominence(c),
            source=SOURCE,
            relation="country_of_capital",
        )


def _country_of_tld() -> Iterator[ClueDraft]:
    """Direct domain lookups only where the code's letter is not the answer's initial."""
    templates = (
        "Which country has the internet country-code domain {tld}?",
        "Websites ending in {tld} belong to which country's top-level domain?",
    )
    for tld, c in sorted(tld_index().items()):
        if not c.answerable or same_initial(tld, c.name):
            continue
        yield make(
            domain="Internet",
            text=sentence(choose(templates, tld).format(tld=tld)),
            answer=c.name,
            tier=lookup_tier(c),
            source=SOURCE,
            relation="country_of_tld",
        )


def _country_of_iso() -> Iterator[ClueDraft]:
    templates2 = (
        "Which country has the ISO 3166-1 alpha-2 code {code}?",
        "The two-letter ISO country code {code} stands for which country?",
    )
    templates3 = (
        "Which country has the ISO 3166-1 alpha-3 code {code}?",
        "The three-letter ISO country code {code} stands for which country?",
    )
    for c in countries():
        if not c.answerable:
            continue
        for code, templates, relation in (
            (c.alpha2, templates2, "country_of_iso_alpha2"),
            (c.alpha3, templates3, "country_of_iso_alpha3"),
        ):
            if same_initial(code, c.name):
                continue
            yield make(
                domain="Political geography",
                text=sentence(choose(templates, code).format(code=code)),
                answer=c.name,
                tier=lookup_tier(c),
                source=SOURCE,
                relation=relation,
            )


def _country_of_calling_code() -> Iterator[ClueDraft]:
    templates = (
        "Which country has the international telephone calling code +{code}?",
        "Phone numbers starting with the country code +{code} reach which country?",
        "The international dialling prefix +{code} belongs to which country?",
    )
    for code, c in sorted(calling_index().items()):
        if not c.answerable:
            continue
        yield make(
            domain="Telecommunications",
            text=sentence(choose(templates, code).format(code=code)),
            answer=c.name,
            tier=lookup_tier(c),
            source=SOURCE,
            relation="country_of_calling_code",
        )


def _capital_via_code() -> Iterator[ClueDraft]:
    """Multi-hop: code -> country -> capital; the code leaks nothing about the capital's initial."""
    tld_templates = (
        "What is the capital of the country whose internet domain is {k}?",
        "Name the capital city of the country that uses the top-level domain {k}.",
    )
    call_templates = (
        "What is the capital of the country with international calling code +{k}?",
        "Name the capital city of the country you reach by dialling +{k}.",
    )
    iso_templates = (
        "What is the capital of the country with ISO 3166-1 alpha-3 code {k}?",
        "Name the capital city of the country whose three-letter ISO code is {k}.",
    )
    iso_index = {c.alpha3: c for c in countries()}
    hops = (
        (tld_index(), tld_templates, "Internet", "capital_of_country_by_tld"),
        (iso_index, iso_templates, "Political geography", "capital_of_country_by_iso_alpha3"),
        (
            calling_index(),
            call_templates,
            "Telecommunications",
            "capital_of_country_by_calling_code",
        ),
    )
    for index, templates, domain, relation in hops:
        for key, c in sorted(index.items()):
            if not c.has_capital or not long_enough(c.capital):
                continue
            if shares_prefix(key, c.capital) or shares_prefix(c.name, c.capital):
                continue
            yield make(
                domain=domain,
                text=sentence(choose(templates, key).format(k=key)),
                answer=c.capital,
                tier=3,
                source=SOURCE,
                relation=relation,
            )


def _neighbours() -> Iterator[ClueDraft]:
    """Sole land neighbour (direct) and the unique country bordering two given ones (multi-hop)."""
    lookup = by_alpha3()
    sole = (
        "Which is the only country that shares a land border with {x}?",
        "{x} has a land border with just one country. Which one?",
    )
    for c in countries():
        if len(c.borders) != 1 or not borders_complete(c):
            continue
        other = lookup[c.borders[0]]
        if not other.answerable or same_initial(c.name, other.name):
            continue
        yield make(
            domain="Geography",
            text=sentence(choose(sole, c.alpha2).format(x=c.phrase)),
            answer=other.name,
            tier=min(prominence(c), prominence(other)) + 1 if prominence(c) < 3 else 3,
            source=SOURCE,
            relation="sole_neighbour",
        )
    both = (
        "Which country borders both {x} and {y}?",
        "Name the one country that shares land borders with both {x} and {y}.",
    )
    per_answer: dict[str, int] = {}
    for x in countries():
        for y in countries():
            if y.alpha3 <= x.alpha3 or y.alpha3 in x.borders:
                continue  # neighbours of each other make the question read oddly
            if not (borders_complete(x) and borders_complete(y)):
                continue  # a missing edge could hide a second common neighbour
            common = set(x.borders) & set(y.borders)
            if len(common) != 1:
                continue
            answer = lookup[common.pop()]
            if (
                not answer.answerable
                or answer.alpha3 in _DISPUTED_BORDERS
                or per_answer.get(answer.alpha3, 0) >= 2
            ):
                continue
            if same_initial(x.name, answer.name) or same_initial(y.name, answer.name):
                continue
            per_answer[answer.alpha3] = per_answer.get(answer.alpha3, 0) + 1
            yield make(
                domain="Geography",
                text=sentence(choose(both, x.alpha3 + y.alpha3).format(x=x.phrase, y=y.phrase)),
                answer=answer.name,
                tier=3,
                source=SOURCE,
                relation="common_neighbour",
            )


def _demonyms() -> Iterator[ClueDraft]:
    """Demonyms only where the word does not start like the country (Dutch, Filipino, Motswana)."""
    forward = (
        "What is the adjective for people from {x}, as in '___ citizens'?",
        "People from {x} are described by which nationality word?",
    )
    backward = (
        "Which country's people are called {d}?",
        "Citizens described as {d} come from which country?",
    )
    for c in countries():
        demonym = c.demonym
        if not demonym or any(ch in demonym for ch in ",/") or same_initial(c.name, demonym):
            continue
        if not long_enough(demonym):
            continue
        yield make(
            domain="Demography",
            text=sentence(choose(forward, c.alpha2).format(x=c.phrase)),
            answer=demonym,
            tier=2,
            source=SOURCE,
            relation="demonym_of_country",
        )
        if c.answerable:
            yield make(
                domain="Demography",
                text=sentence(choose(backward, c.alpha2).format(d=demonym)),
                answer=c.name,
                tier=2,
                source=SOURCE,
                relation="country_of_demonym",
            )


def clues() -> Iterator[ClueDraft]:
    yield from _capital_of_country()
    yield from _country_of_capital()
    yield from _country_of_tld()
    yield from _country_of_iso()
    yield from _country_of_calling_code()
    yield from _capital_via_code()
    yield from _neighbours()
    yield from _demonyms()
