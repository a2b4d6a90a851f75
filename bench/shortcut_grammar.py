"""A compositional reader for clue texts: question frames around nested noun phrases.

The large generated bank (``puzzles/knowledge/phrasings.py``, ``refs.py``, ``graph_compose.py``)
builds every clue as a *frame* ("Identify {np}.") around a *noun phrase* for the answer ("the
capital of {x}"), where ``{x}`` is again a noun phrase: a name, or a description that may nest
("the only country bordering the country whose internet domain is .pt").  Reading those tables,
as any attacker can, gives the grammar below; parsing is template matching with every possible
split of the slots (so "both Bosnia and Herzegovina and Serbia" finds its one good split), and
each slot is evaluated recursively over the public fact base.

A template is a string with ``{slot}`` holes; its handler turns the evaluated slots into entities.
Adding a wording is one line in ``NP_RULES`` or ``FRAMES``.  Slots named ``x``, ``y``, ``z``,
``a``, ``b``, ``m`` (moon) are noun phrases; every other slot is literal text (a key, a number).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bench.shortcut_facts import FAMILY_GROUPS, FactBase, facts, fold

Entity = tuple[str, object]  # ("country", "FI"), ("city", "Helsinki"), ("element", 26), ...
Entities = frozenset[Entity]
NP_SLOTS = frozenset("xyzab") | {"moon"}

_WORD_NUMBERS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
}
_MULTIPLIERS = {
    "twice": 2.0,
    "double": 2.0,
    "two times": 2.0,
    "three times": 3.0,
    "triple": 3.0,
    "thrice": 3.0,
    "half": 0.5,
    "one half of": 0.5,
    "half of": 0.5,
    "a third of": 1 / 3,
    "one third of": 1 / 3,
    "a third": 1 / 3,
    "one third": 1 / 3,
    "one half": 0.5,
    "a half": 0.5,
    "a quarter of": 0.25,
    "four times": 4.0,
}


def number(text: str) -> int | None:
    t = text.strip().lower()
    if t.isdigit():
        return int(t)
    if t in _WORD_NUMBERS:
        return _WORD_NUMBERS[t]
    match = re.fullmatch(r"(\d+)(?:st|nd|rd|th)", t)
    if match:
        return int(match.group(1))
    return _ORDINALS.get(t)


# --- template matching ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    parts: tuple[tuple[bool, str], ...]  # (is_slot, literal-or-slot-name)

    @classmethod
    def parse(cls, text: str) -> Template:
        parts: list[tuple[bool, str]] = []
        for piece in re.split(r"(\{\w+\})", text):
            if not piece:
                continue
            if piece.startswith("{") and piece.endswith("}"):
                parts.append((True, piece[1:-1]))
            else:
                parts.append((False, piece.lower()))
        return cls(tuple(parts))

    def bindings(self, text: str) -> Iterator[dict[str, str]]:
        """Every way the slots can split ``text`` (compared in lower case, bound in original)."""
        low = text.lower()
        parts = self.parts

        def rec(pi: int, ti: int, bound: dict[str, str]) -> Iterator[dict[str, str]]:
            if pi == len(parts):
                if ti == len(text):
                    yield dict(bound)
                return
            is_slot, value = parts[pi]
            if not is_slot:
                if low.startswith(value, ti):
                    yield from rec(pi + 1, ti + len(value), bound)
                return
            if pi + 1 == len(parts):
                if ti < len(text):
                    bound[value] = text[ti:]
                    yield from rec(pi + 1, len(text), bound)
                return
            literal = parts[pi + 1][1]
            start = ti + 1
            while (j := low.find(literal, start)) != -1:
                bound[value] = text[ti:j]
                yield from rec(pi + 1, j, bound)
                start = j + 1

        yield from rec(0, 0, {})


Handler = Callable[["Reader", dict[str, object]], Entities]


@dataclass(frozen=True, slots=True)
class Rule:
    template: Template
    handler: Handler
    name: str


# --- the reader ----------------------------------------------------------------------------------


class Reader:
    """Evaluates noun phrases to entities of the fact base; memoised per phrase."""

    def __init__(self, fb: FactBase | None = None) -> None:
        self.fb = fb or facts()
        self.np = functools.lru_cache(maxsize=200_000)(self._np)

    # entities of a phrase --------------------------------------------------------------------

    def _np(self, text: str) -> Entities:
        text = text.strip().strip(",").strip()
        if not text:
            return frozenset()
        bare = self.bare(text)
        if bare:
            return bare
        out: set[Entity] = set()
        for rule in NP_RULES:
            for bound in rule.template.bindings(text):
                values: dict[str, object] = {}
                ok = True
                for slot, value in bound.items():
                    if slot in NP_SLOTS:
                        ents = self.np(value)
                        if not ents:
                            ok = False
                            break
                        values[slot] = ents
                    else:
                        values[slot] = value.strip()
                if not ok:
                    continue
                try:
                    found = rule.handler(self, values)
                except (KeyError, ValueError, TypeError, ZeroDivisionError):
                    found = frozenset()
                if found:
                    out |= found
            if out:
                return frozenset(out)
        return frozenset()

    def bare(self, text: str) -> Entities:
        """A name: country, capital city, subdivision, element, planet or moon, language."""
        fb = self.fb
        key = fold(text)
        if key.startswith("the "):
            key = key[4:]
        found: set[Entity] = set()
        if key in fb.country_names:
            found |= {("country", a2) for a2 in fb.country_names[key]}
        if key in fb.element_names:
            found.add(("element", fb.element_names[key]))
        if key in fb.bodies:
            found.add((fb.bodies[key].kind, fb.bodies[key].name))
        if key.startswith("dwarf planet ") and key[13:] in fb.bodies:
            found.add(("dwarf", fb.bodies[key[13:]].name))
        if key in fb.subdivision_names:
            found |= {("subdivision", s.name) for s in fb.subdivision_names[key]}
        if key in fb.capitals:
            found.add(("city", text.strip()))
        return frozenset(found)

    # typed views -----------------------------------------------------------------------------

    def countries(self, ents: object) -> list[str]:
        return sorted(v for k, v in ents if k == "country")  # type: ignore[union-attr]

    def elements(self, ents: object) -> list[int]:
        return sorted(v for k, v in ents if k == "element")  # type: ignore[union-attr]

    def subdivisions(self, ents: object) -> list[str]:
        return sorted(v for k, v in ents if k == "subdivision")  # type: ignore[union-attr]

    def weight(self, ent: Entity) -> float:
        """How likely a clue writer meant this referent: a country by its population (Jamaica,
        not Norfolk Island, has Kingston as its capital); a capital by its country's."""
        kind, value = ent
        if kind == "country":
            return float(max(self.fb.countries[str(value)].population, 1000))
        if kind == "city":
            owners = self.fb.capitals.get(fold(str(value)), set())
            pops = [self.fb.countries[a2].population for a2 in owners]
            return float(max([*pops, 1000]))
        return 1000.0

    def answer(self, ent: Entity) -> str:
        kind, value = ent
        if kind == "country":
            return self.fb.countries[str(value)].name
        if kind == "element":
            return self.fb.elements[int(value)].name  # type: ignore[call-overload]
        return str(value)

    # sentences -------------------------------------------------------------------------------

    def read(self, text: str) -> tuple[Entities, str]:
        """Entities a whole clue asks for, and the name of the frame or question that read it."""
        text = " ".join(text.split())
        for rule in QUESTIONS:
            for bound in rule.template.bindings(text):
                values: dict[str, object] = {}
                ok = True
                for slot, value in bound.items():
                    if slot in NP_SLOTS:
                        ents = self.np(value)
                        if not ents:
                            ok = False
                            break
                        values[slot] = ents
                    else:
                        values[slot] = value.strip()
                if ok:
                    try:
                        found = rule.handler(self, values)
                    except (KeyError, ValueError, TypeError, ZeroDivisionError):
                        found = frozenset()
                    if found:
                        return found, rule.name
        for frame in FRAMES:
            for bound in frame.bindings(text):
                found = self.np(bound["np"])
                if found:
                    return found, "frame"
        return frozenset(), ""


# --- handlers --------------------------------------------------------------------------------------


def _set(kind: str, values: object) -> Entities:
    return frozenset((kind, v) for v in values)  # type: ignore[union-attr]


def capital_of(r: Reader, v: dict[str, object]) -> Entities:
    fb = r.fb
    out = {fb.countries[a2].capital for a2 in r.countries(v["x"]) if fb.countries[a2].capital}
    for name in r.subdivisions(v["x"]):
        out |= {s.capital for s in fb.subdivision_names.get(fold(name), [])}
    return _set("city", out)


def _country_attr(attr: str) -> Handler:
    def handler(r: Reader, v: dict[str, object]) -> Entities:
        out: set[str] = set()
        for a2 in r.countries(v["x"]):
            c = r.fb.countries[a2]
            if attr == "units":
                out |= c.units
            elif attr == "languages":
                # the main language: countryinfo lists it first for most countries, but the set
                # lost that order, so every listed language is a candidate
                out |= c.languages
            elif attr == "demonym" and c.demonym:
                out.add(c.demonym)
        return _set(attr.rstrip("s"), out)

    return handler


def _countries_by(index_name: str) -> Handler:
    def handler(r: Reader, v: dict[str, object]) -> Entities:
        key = fold(str(v["k"]))
        index: dict[str, set[str]] = getattr(r.fb, index_name)
        return _set("country", index.get(key, set()))

    return handler


def by_tld(r: Reader, v: dict[str, object]) -> Entities:
    k = str(v["k"]).lower()
    return _set("country", {c.alpha2 for c in r.fb.countries.values() if k in c.tlds})


def by_iso(r: Reader, v: dict[str, object]) -> Entities:
    k = str(v["k"]).upper()
    if len(k) == 2 and k in r.fb.countries:
        return _set("country", {k})
    if len(k) == 3 and k in r.fb.by_alpha3:
        return _set("country", {r.fb.by_alpha3[k].alpha2})
    return frozenset()


def by_calling(r: Reader, v: dict[str, object]) -> Entities:
    k = str(v["k"]).lstrip("+").strip()
    return _set("country", {c.alpha2 for c in r.fb.countries.values() if k in c.calling})


def _neighbours(r: Reader, a2s: list[str]) -> set[str]:
    fb = r.fb
    return {
        fb.by_alpha3[b].alpha2 for a2 in a2s for b in fb.countries[a2].borders if b in fb.by_alpha3
    }


def sole_neighbour(r: Reader, v: dict[str, object]) -> Entities:
    return _set("country", _neighbours(r, r.countries(v["x"])))


def other_neighbour(r: Reader, v: dict[str, object]) -> Entities:
    others = set(r.countries(v["y"]))
    return _set("country", _neighbours(r, r.countries(v["x"])) - others)


def common_neighbour(r: Reader, v: dict[str, object]) -> Entities:
    sides = [set(r.countries(v[s])) for s in ("x", "y", "z") if s in v]
    common = set.intersection(*(_neighbours(r, sorted(side)) for side in sides))
    return _set("country", common - set().union(*sides))


def element_number(r: Reader, v: dict[str, object]) -> Entities:
    z = number(str(v["k"]))
    return _set("element", {z} if z in r.fb.elements else set())


def element_symbol(r: Reader, v: dict[str, object]) -> Entities:
    z = r.fb.element_symbols.get(str(v["k"]).strip())
    return _set("element", {z} if z else set())


def element_cell(r: Reader, v: dict[str, object]) -> Entities:
    p, g = number(str(v["p"])), number(str(v["g"]))
    return _set(
        "element", {e.number for e in r.fb.elements.values() if e.period == p and e.group == g}
    )


def element_family(r: Reader, v: dict[str, object]) -> Entities:
    group = FAMILY_GROUPS.get(str(v["f"]).lower())
    p = number(str(v["p"]))
    return _set(
        "element", {e.number for e in r.fb.elements.values() if e.period == p and e.group == group}
    )


def _shift(sign: int, fixed: int | None = None) -> Handler:
    def handler(r: Reader, v: dict[str, object]) -> Entities:
        n = fixed if fixed is not None else number(str(v["k"]))
        if n is None:
            return frozenset()
        zs = {z + sign * n for z in r.elements(v["x"])}
        return _set("element", {z for z in zs if z in r.fb.elements})

    return handler


def _combine(op: Callable[[int, int], int]) -> Handler:
    def handler(r: Reader, v: dict[str, object]) -> Entities:
        zs = {op(a, b) for a in r.elements(v["x"]) for b in r.elements(v["y"])}
        return _set("element", {z for z in zs if z in r.fb.elements})

    return handler


def element_scaled(r: Reader, v: dict[str, object]) -> Entities:
    factor = _MULTIPLIERS.get(str(v["k"]).lower().strip())
    if factor is None:
        return frozenset()
    out = set()
    for z in r.elements(v["x"]):
        scaled = z * factor
        if abs(scaled - round(scaled)) < 1e-9 and round(scaled) in r.fb.elements:
            out.add(round(scaled))
    return _set("element", out)


def element_by_calling(r: Reader, v: dict[str, object]) -> Entities:
    zs = {
        int(code)
        for a2 in r.countries(v["x"])
        for code in r.fb.countries[a2].calling
        if code.isdigit()
    }
    return _set("element", {z for z in zs if z in r.fb.elements})


def element_by_planet(r: Reader, v: dict[str, object]) -> Entities:
    orders = {r.fb.bodies[fold(str(name))].order for kind, name in v["x"] if kind == "planet"}  # type: ignore[union-attr]
    return _set("element", {z for z in orders if z in r.fb.elements})


def planet_by_order(r: Reader, v: dict[str, object]) -> Entities:
    n = number(str(v["k"]))
    return _set("planet", {p.name for p in r.fb.planets() if p.order == n})


def planet_between(r: Reader, v: dict[str, object]) -> Entities:
    orders = [r.fb.bodies[fold(str(n))].order for s in ("a", "b") for k, n in v[s] if k == "planet"]  # type: ignore[union-attr]
    if len(orders) < 2:
        return frozenset()
    lo, hi = min(orders), max(orders)
    return _set("planet", {p.name for p in r.fb.planets() if lo < p.order < hi})


def planet_of_moon(r: Reader, v: dict[str, object]) -> Entities:
    parents = {r.fb.bodies[fold(str(n))].parent for k, n in v["moon"] if k == "moon"}  # type: ignore[union-attr]
    return _set("planet", parents)


def _moon_of(rank: int) -> Handler:
    def handler(r: Reader, v: dict[str, object]) -> Entities:
        parents = {str(n) for k, n in v["x"] if k in ("planet", "dwarf")}  # type: ignore[union-attr]
        return _set(
            "moon",
            {
                b.name
                for b in r.fb.bodies.values()
                if b.kind == "moon" and b.parent in parents and b.rank == rank
            },
        )

    return handler


_LABEL_SHAPE = re.compile(
    r"(?:[A-Z][\w.]*\s){1,2}(?:state|province|territory|region|land|subdivision|department|"
    r"county|canton|oblast|prefecture|district|federal subject)",
)


def _labelled(handler: Handler) -> Handler:
    """The loose subdivision wordings ("the {label} {k}") only where ``label`` reads as one
    ("US state", "German state"): otherwise "the name of ... and Georgia" would be the US state."""

    def checked(r: Reader, v: dict[str, object]) -> Entities:
        if not _LABEL_SHAPE.fullmatch(str(v.get("label", "")).strip()):
            return frozenset()
        return handler(r, v)

    return checked


def subdivision_by_capital(r: Reader, v: dict[str, object]) -> Entities:
    return _set(
        "subdivision", {s.name for s in r.fb.subdivision_capitals.get(fold(str(v["k"])), [])}
    )


def subdivision_by_code(r: Reader, v: dict[str, object]) -> Entities:
    s = r.fb.subdivision_codes.get(str(v["k"]).strip().upper())
    return _set("subdivision", {s.name} if s else set())


def subdivision_named(r: Reader, v: dict[str, object]) -> Entities:
    return _set("subdivision", {s.name for s in r.fb.subdivision_names.get(fold(str(v["k"])), [])})


def language_by_code(r: Reader, v: dict[str, object]) -> Entities:
    name = r.fb.lang_codes.get(str(v["k"]).strip("'\" ").lower())
    return _set("language", {name} if name else set())


def country_named(r: Reader, v: dict[str, object]) -> Entities:
    return frozenset(e for e in v["x"] if e[0] == "country")  # type: ignore[union-attr]


# --- the grammar -----------------------------------------------------------------------------------

_COUNTRY = ("the country", "the nation", "the one country", "the only country", "the sole country")


def _rules(pairs: list[tuple[str, Handler]], name: str) -> list[Rule]:
    return [Rule(Template.parse(t), h, name) for t, h in pairs]


def _country_descriptions() -> list[tuple[str, Handler]]:
    tails: list[tuple[str, Handler]] = [
        (" whose capital is {k}", _countries_by("capitals")),
        (" whose capital city is {k}", _countries_by("capitals")),
        (" with {k} as its capital", _countries_by("capitals")),
        (" with {k} as its capital city", _countries_by("capitals")),
        (" that has {k} as its capital", _countries_by("capitals")),
        (" that has {k} as its capital city", _countries_by("capitals")),
        (" whose internet domain is {k}", by_tld),
        (" whose internet country-code domain is {k}", by_tld),
        (" with the top-level domain {k}", by_tld),
        (" that uses the top-level domain {k}", by_tld),
        (" whose websites end in {k}", by_tld),
        (" that uses the internet country code {k}", by_tld),
        (" with ISO 3166-1 alpha-2 code {k}", by_iso),
        (" with ISO 3166-1 alpha-3 code {k}", by_iso),
        (" whose two-letter ISO code is {k}", by_iso),
        (" whose three-letter ISO code is {k}", by_iso),
        (" coded {k} in ISO 3166-1 alpha-2", by_iso),
        (" coded {k} in ISO 3166-1 alpha-3", by_iso),
        (" with international calling code +{k}", by_calling),
        (" you reach by dialling +{k}", by_calling),
        (" whose telephone country code is +{k}", by_calling),
        (" whose currency is the {k}", _countries_by("units")),
        (" that uses the {k} as its money", _countries_by("units")),
        (" where the {k} is the national currency", _countries_by("units")),
        (" whose people are called {k}", _countries_by("demonyms")),
        (" whose citizens are described as {k}", _countries_by("demonyms")),
        (" bordering {x}", sole_neighbour),
        (" that shares a land border with {x}", sole_neighbour),
        (" bordering both {x} and {y}", common_neighbour),
        (" that shares land borders with both {x} and {y}", common_neighbour),
        (" touching both {x} and {y}", common_neighbour),
        (" bordering {x}, {y} and {z}", common_neighbour),
        (" with land borders on {x}, {y} and {z}", common_neighbour),
        (" besides {y} that borders {x}", other_neighbour),
    ]
    out = [(head + tail, h) for head in _COUNTRY for tail, h in tails]
    out += [
        ("the sole land neighbour of {x}", sole_neighbour),
        ("the only land neighbour of {x}", sole_neighbour),
        ("the neighbour of {x} other than {y}", other_neighbour),
        ("the second land neighbour of {x}, apart from {y}", other_neighbour),
    ]
    return out


def _attribute_phrases() -> list[tuple[str, Handler]]:
    capital = [
        "the capital of {x}",
        "the capital city of {x}",
        "the national capital of {x}",
        "the city that is the capital of {x}",
        "{x}'s capital",
        "{x}' capital",
        "{x}'s capital city",
        "{x}' capital city",
    ]
    currency = [
        "the currency unit of {x}",
        "the basic unit of money in {x}",
        "the basic unit of money used in {x}",
        "the unit of currency used in {x}",
        "the monetary unit of {x}",
        "the currency of {x}",
        "the unit of money used in {x}",
    ]
    language = [
        "the main official language of {x}",
        "the principal language of {x}",
        "the main language of government and schooling in {x}",
        "the principal language of government and schooling in {x}",
        "the chief language used officially in {x}",
        "the main language used officially in {x}",
        "the official language of {x}",
    ]
    demonym = [
        "the nationality word for people from {x}",
        "the adjective for citizens of {x}",
        "the adjective for people from {x}",
        "the demonym of {x}",
    ]
    return (
        [(t, capital_of) for t in capital]
        + [(t, _country_attr("units")) for t in currency]
        + [(t, _country_attr("languages")) for t in language]
        + [(t, _country_attr("demonym")) for t in demonym]
    )


def _element_phrases() -> list[tuple[str, Handler]]:
    the = ["the element", "the chemical element", "the periodic-table element"]
    tails: list[tuple[str, Handler]] = [
        (" with atomic number {k}", element_number),
        (" whose nucleus holds {k} protons", element_number),
        (" at position {k} of the periodic table", element_number),
        (" whose atoms each have {k} protons", element_number),
        (" with {k} protons in its nucleus", element_number),
        (" with the chemical symbol {k}", element_symbol),
        (" whose symbol is {k}", element_symbol),
        (" with symbol {k}", element_symbol),
        (" written {k} in chemical formulas", element_symbol),
        (" in period {p}, group {g} of the periodic table", element_cell),
        (" in group {g} and period {p} of the periodic table", element_cell),
        (" at period {p}, group {g}", element_cell),
        (" right after {x} in the periodic table", _shift(1, 1)),
        (" whose atomic number is one more than that of {x}", _shift(1, 1)),
        (" that follows {x} in the periodic table", _shift(1, 1)),
        (" right before {x} in the periodic table", _shift(-1, 1)),
        (" whose atomic number is one less than that of {x}", _shift(-1, 1)),
        (" that precedes {x} in the periodic table", _shift(-1, 1)),
        (" whose atomic number is {k} more than that of {x}", _shift(1)),
        (" {k} places after {x} in the periodic table", _shift(1)),
        (" with {k} more protons than {x}", _shift(1)),
        (" whose atomic number is that of {x} plus {k}", _shift(1)),
        (" whose atomic number is {k} less than that of {x}", _shift(-1)),
        (" {k} places before {x} in the periodic table", _shift(-1)),
        (" with {k} fewer protons than {x}", _shift(-1)),
        (" whose atomic number is that of {x} minus {k}", _shift(-1)),
        (" whose atomic number is the sum of those of {x} and {y}", _combine(lambda a, b: a + b)),
        (" whose atomic number equals that of {x} plus that of {y}", _combine(lambda a, b: a + b)),
        (" with as many protons as {x} and {y} together", _combine(lambda a, b: a + b)),
        (" whose atomic number is that of {x} minus that of {y}", _combine(lambda a, b: a - b)),
        (
            " whose atomic number is the difference between those of {x} and {y}",
            _combine(lambda a, b: abs(a - b)),
        ),
        (" with as many protons as {x} has more than {y}", _combine(lambda a, b: a - b)),
        (" whose atomic number is {k} that of {x}", element_scaled),
        (" with {k} as many protons as {x}", element_scaled),
        (" whose atomic number equals the international calling code of {x}", element_by_calling),
        (" whose atomic number is the telephone country code of {x}", element_by_calling),
        (" whose atomic number is the international calling code of {x}", element_by_calling),
        (" whose atomic number is the position of {x} counting from the Sun", element_by_planet),
        (" whose atomic number equals the place of {x} in order from the Sun", element_by_planet),
        (" whose atomic number is the position, counting from the Sun, of {x}", element_by_planet),
        (" whose atomic number equals the place in order from the Sun of {x}", element_by_planet),
    ]
    out = [(head + tail, h) for head in the for tail, h in tails]
    for family in FAMILY_GROUPS:
        out += [
            (f"the {family} in period {{p}} of the periodic table", _family(family)),
            (f"the {family} of the {{p}} period", _family(family)),
            (f"the {family} found in period {{p}} of the periodic table", _family(family)),
        ]
    return out


def _family(name: str) -> Handler:
    def handler(r: Reader, v: dict[str, object]) -> Entities:
        return element_family(r, {**v, "f": name})

    return handler


def _body_phrases() -> list[tuple[str, Handler]]:
    return [
        ("the {k} planet from the Sun", planet_by_order),
        ("the planet that is {k} in order from the Sun", planet_by_order),
        ("the planet that is {k} from the Sun", planet_by_order),
        ("the {k} planet counting outward from the Sun", planet_by_order),
        ("the planet whose orbit lies between those of {a} and {b}", planet_between),
        ("the planet orbiting between {a} and {b}", planet_between),
        ("the planet that the moon {moon} orbits", planet_of_moon),
        ("the planet of which {moon} is a natural satellite", planet_of_moon),
        ("the planet that {moon} orbits", planet_of_moon),
        ("the largest moon of {x}", _moon_of(1)),
        ("the largest natural satellite of {x}", _moon_of(1)),
        ("the second-largest moon of {x}", _moon_of(2)),
        ("the second-largest natural satellite of {x}", _moon_of(2)),
        ("the moon {x}", lambda r, v: frozenset(e for e in v["x"] if e[0] == "moon")),  # type: ignore[union-attr]
    ]


_LABEL = "{label}"


def _subdivision_phrases() -> list[tuple[str, Handler]]:
    return [(t, _labelled(h)) for t, h in _subdivision_wordings()] + [
        ("the subdivision with ISO 3166-2 code {k}", subdivision_by_code),
        ("the region whose ISO 3166-2 code is {k}", subdivision_by_code),
    ]


def _subdivision_wordings() -> list[tuple[str, Handler]]:
    return [
        (f"the {_LABEL} whose capital is {{k}}", subdivision_by_capital),
        (f"the {_LABEL} whose capital city is {{k}}", subdivision_by_capital),
        (f"the {_LABEL} with {{k}} as its capital", subdivision_by_capital),
        (f"the {_LABEL} governed from {{k}}", subdivision_by_capital),
        (f"the {_LABEL} with ISO 3166-2 code {{k}}", subdivision_by_code),
        (f"the {_LABEL} coded {{k}} in ISO 3166-2", subdivision_by_code),
        (f"the {_LABEL} whose ISO 3166-2 code is {{k}}", subdivision_by_code),
        # the loosest forms last: "the {label} {k}" would also split "... capital city is X"
        (f"the {_LABEL} of {{k}}", subdivision_named),
        (f"{{k}}, a {_LABEL}", subdivision_named),
        (f"the {_LABEL} {{k}}", subdivision_named),
    ]


def _language_phrases() -> list[tuple[str, Handler]]:
    out = []
    for std in ("639-1", "639-3"):
        out += [
            (f"the language with ISO {std} code {{k}}", language_by_code),
            (f"the language coded {{k}} in ISO {std}", language_by_code),
            (f"the language whose two-letter ISO {std} code is {{k}}", language_by_code),
            (f"the language whose three-letter ISO {std} code is {{k}}", language_by_code),
        ]
    return out


NP_RULES: tuple[Rule, ...] = tuple(
    _rules(_country_descriptions(), "country")
    + _rules(_attribute_phrases(), "attribute")
    + _rules(_element_phrases(), "element")
    + _rules(_body_phrases(), "body")
    + _rules(_subdivision_phrases(), "subdivision")
    + _rules(_language_phrases(), "language")
)

# Frames around a noun phrase; the instructions after a currency question are part of the frame.
# Longest wording first: "What is the name of {np}?" must win over "What is {np}?".
FRAMES: tuple[Template, ...] = tuple(
    Template.parse(t)
    for t in sorted(
        (
            "What is {np}? Give the unit's name only.",
            "What is {np}? Give the unit only.",
            "Name {np}, without any national adjective.",
            "{np} is called what? Answer with the unit alone.",
            "Which unit of money is {np}? The bare unit name, please.",
            "Give the name of {np} (the unit alone, no country adjective).",
            "What is {np}?",
            "Name {np}.",
            "Identify {np}.",
            "Give the name of {np}.",
            "What is the name of {np}?",
            "Give {np}.",
            "{np}: which city is it?",
            "{np}: which language is it?",
            "{np}: which country is it?",
            "{np}: which element is it?",
            "Which city is {np}?",
            "Which city serves as {np}?",
            "Which language is {np}?",
            "Which country is {np}?",
            "Which element is {np}?",
            "Which planet is {np}?",
            "Which country is meant here: {np}?",
            "Which element is meant here: {np}?",
            "Which city is meant here: {np}?",
            "Which planet is meant here: {np}?",
            "Which language is meant here: {np}?",
            "Which subdivision is meant here: {np}?",
            "Which {kind} is meant here: {np}?",
            "Who or what is {np}?",
        ),
        key=lambda t: -len(t.replace("{np}", "")),
    )
)


def _q_country(handler: Handler) -> Handler:
    return handler


QUESTIONS: tuple[Rule, ...] = tuple(
    _rules(
        [
            ("{k} is the capital of which country?", _countries_by("capitals")),
            ("Which country has {k} as its capital city?", _countries_by("capitals")),
            ("Which country has {k} as its capital?", _countries_by("capitals")),
            ("Of which country is {k} the capital?", _countries_by("capitals")),
            ("Which country has the internet country-code domain {k}?", by_tld),
            ("Websites ending in {k} belong to which country?", by_tld),
            ("Websites ending in {k} belong to which country's top-level domain?", by_tld),
            ("The two-letter ISO country code {k} stands for which country?", by_iso),
            ("The three-letter ISO country code {k} stands for which country?", by_iso),
            ("Phone numbers starting with +{k} reach which country?", by_calling),
            ("Phone numbers starting with the country code +{k} reach which country?", by_calling),
            ("The international dialling prefix +{k} belongs to which country?", by_calling),
            ("The {k} is the national currency of which country?", _countries_by("units")),
            ("Which country's currency unit is the {k}?", _countries_by("units")),
            ("Which country's people are called {k}?", _countries_by("demonyms")),
            ("Citizens described as {k} come from which country?", _countries_by("demonyms")),
            ("Which is the only country that shares a land border with {x}?", sole_neighbour),
            ("{x} has a land border with just one country. Which one?", sole_neighbour),
            ("Which country borders both {x} and {y}?", common_neighbour),
        ],
        "question",
    )
)


@functools.cache
def reader() -> Reader:
    return Reader()
