"""Referring expressions: the ways a clue can point at one entity of the fact graph.

A ``Ref`` is a noun phrase with exactly one referent, built only from the graph's identifying keys
(``puzzles.knowledge.graph``), so nesting refs ("the capital of the only country bordering the
country whose internet domain is .pt") never loses uniqueness: every step names one entity.

Each ref records what its text mentions, so the clue builders can drop combinations whose answer
could be read off the text without knowing anything: names that share a prefix with the answer,
and codes that share its initial (".pe" for Peru).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from puzzles.knowledge import graph
from puzzles.knowledge._common import iter_unique, norm, ordinal, same_initial, shares_prefix
from puzzles.knowledge.elements import _FAMILIES
from puzzles.knowledge.graph import Country, Element, Subdivision
from puzzles.knowledge.phrasings import (
    COUNTRY_BY,
    ELEMENT_BY,
    LANGUAGE_BY,
    SUBDIVISION_BY,
    pick,
    possessive,
)

# Keys whose value is not the country's own wording, so NAMED frames read naturally with them.
_KEYED = ("capital", "tld", "iso2", "iso3", "calling", "currency", "demonym")
# Hydrogen is no alkali metal, and elements past 112 are barely characterised: no positions.
_LAST_PLACED = 112
_DEEP_PER_MEMBER = 3


@dataclass(frozen=True, slots=True)
class Ref:
    text: str  # the noun phrase, e.g. "the country whose capital is Helsinki"
    hops: int  # facts a solver recalls to resolve it; 0 for a bare name
    path: str  # how it refers, for the clue's relation: "" (a name), "tld", "sole_neighbour<-tld"
    names: tuple[str, ...] = ()  # names it mentions (a shared prefix with the answer leaks it)
    codes: tuple[str, ...] = ()  # codes it mentions (a shared initial with the answer leaks it)

    @property
    def named(self) -> bool:
        return self.hops == 0

    def leaks(self, answer: str) -> bool:
        return any(_shares_prefix(n, answer) for n in self.names) or any(
            _same_initial(code, answer) for code in self.codes
        )

    def possessive(self) -> str:
        """'France's' for a name; descriptions take no possessive ("the country whose ...'s")."""
        assert self.named
        return possessive(self.text)


# The same few thousand (name, answer) pairs are checked again and again: remember them.
_shares_prefix = functools.cache(shares_prefix)
_same_initial = functools.cache(same_initial)


def key_values(c: Country) -> Iterator[tuple[str, str, bool]]:
    """(key kind, key text, is a code) for every identifying key of ``c``."""
    cap = graph.capital(c)
    owner = graph.capital_owner().get(cap) if cap is not None else None
    if cap is not None and owner is not None and owner.alpha2 == c.alpha2:
        yield "capital", cap, False
    if (t := graph.tld(c)) is not None:
        yield "tld", t, True
    yield "iso2", c.alpha2, True
    yield "iso3", c.alpha3, True
    if (code := graph.calling_code(c)) is not None:
        yield "calling", code, False
    unit = graph.currency_key(c)
    if unit is not None:
        yield "currency", unit.lower(), False
    d = graph.demonym(c)
    owner = graph.demonym_owner().get(d) if d is not None else None
    if d is not None and owner is not None and owner.alpha2 == c.alpha2:
        yield "demonym", d, False


def name_ref(c: Country) -> Ref:
    return Ref(c.phrase, 0, "", names=(c.name,))


@functools.cache
def keyed_refs(c: Country) -> tuple[Ref, ...]:
    """One-hop descriptions of ``c`` by a key it alone has (capital, domain, codes, currency)."""
    refs: list[Ref] = []
    for kind, key, is_code in key_values(c):
        for template in COUNTRY_BY[kind]:
            refs.append(
                Ref(
                    template.format(k=key),
                    1,
                    kind,
                    names=() if is_code else (key,),
                    codes=(key.lstrip("."),) if is_code else (),
                )
            )
    return tuple(refs)


@functools.cache
def _neighbour_refs() -> dict[str, tuple[Ref, ...]]:
    """One-hop descriptions through borders, by alpha-2 of the referent; members are named."""
    out: dict[str, list[Ref]] = {}
    for x in graph.sovereign():
        ns = graph.neighbours(x)
        if ns is None:
            continue
        if len(ns) == 1:
            for t in COUNTRY_BY["sole_neighbour"]:
                out.setdefault(ns[0].alpha2, []).append(
                    Ref(t.format(x=x.phrase), 1, "sole_neighbour", names=(x.name,))
                )
        if len(ns) == 2:
            for other, known in (ns, ns[::-1]):
                for t in COUNTRY_BY["other_neighbour"]:
                    out.setdefault(other.alpha2, []).append(
                        Ref(
                            t.format(x=x.phrase, y=known.phrase),
                            1,
                            "other_neighbour",
                            names=(x.name, known.name),
                        )
                    )
    for x, y, answer in graph.neighbour_pairs():
        for t in COUNTRY_BY["common_neighbour"]:
            out.setdefault(answer.alpha2, []).append(
                Ref(t.format(x=x.phrase, y=y.phrase), 1, "common_neighbour", names=(x.name, y.name))
            )
    for x, y, z, answer in graph.neighbour_triples():
        for t in COUNTRY_BY["common_neighbour3"]:
            out.setdefault(answer.alpha2, []).append(
                Ref(
                    t.format(x=x.phrase, y=y.phrase, z=z.phrase),
                    1,
                    "common_neighbour3",
                    names=(x.name, y.name, z.name),
                )
            )
    return {a2: tuple(refs) for a2, refs in out.items()}


def neighbour_refs(c: Country) -> tuple[Ref, ...]:
    return _neighbour_refs().get(c.alpha2, ())


@functools.cache
def _deep_refs() -> dict[str, tuple[Ref, ...]]:
    """Two-hop descriptions: the sole or common neighbour of a country that is itself described
    by a key ("the only country bordering the country whose internet domain is .pt")."""
    out: dict[str, list[Ref]] = {}

    def described(x: Country) -> Sequence[Ref]:
        return [r for r in keyed_refs(x) if r.path in _KEYED]

    for x in graph.sovereign():
        ns = graph.neighbours(x)
        if ns is None or len(ns) != 1:
            continue
        for inner in described(x):
            for t in COUNTRY_BY["sole_neighbour"]:
                out.setdefault(ns[0].alpha2, []).append(
                    _nest(t.format(x=inner.text), inner, "sole_neighbour")
                )
    for x, y, answer in graph.neighbour_pairs():
        for inner_x, other in ((x, y), (y, x)):
            # A few descriptions per member: every one of them would make one pair of neighbours
            # a fifth of the bank.
            options = {r.text: r for r in described(inner_x)}
            for text in pick(sorted(options), inner_x.alpha2 + other.alpha2, _DEEP_PER_MEMBER):
                inner = options[text]
                (t,) = pick(COUNTRY_BY["common_neighbour"], inner.text + other.alpha2, 1)
                ref = _nest(t.format(x=inner.text, y=other.phrase), inner, "common_neighbour")
                out.setdefault(answer.alpha2, []).append(
                    Ref(ref.text, ref.hops, ref.path, (*ref.names, other.name), ref.codes)
                )
    return {a2: tuple(refs) for a2, refs in out.items()}


def _nest(text: str, inner: Ref, kind: str) -> Ref:
    return Ref(text, inner.hops + 1, f"{kind}<-{inner.path}", inner.names, inner.codes)


def deep_refs(c: Country) -> tuple[Ref, ...]:
    return _deep_refs().get(c.alpha2, ())


# --- elements -------------------------------------------------------------------------------------


def element_name(el: Element) -> Ref:
    return Ref(el.name.lower(), 0, "", names=(el.name,))


def element_symbol(el: Element) -> Ref:
    """A short description by symbol, used as an operand ("that of the element with symbol Fe")."""
    return Ref(f"the element with symbol {el.symbol}", 1, "symbol", codes=(el.symbol,))


def element_keyed(el: Element) -> Iterator[Ref]:
    """One-hop descriptions: atomic number, symbol, table position."""
    for t in ELEMENT_BY["number"]:
        yield Ref(t.format(z=el.number), 1, "number")
    if not same_initial(el.symbol, el.name):
        for t in ELEMENT_BY["symbol"]:
            yield Ref(t.format(s=el.symbol), 1, "symbol", codes=(el.symbol,))
    if el.group is None or el.number == 1 or el.number > _LAST_PLACED:
        return
    family = _FAMILIES.get(el.group)
    if family is not None:
        for t in ELEMENT_BY["family"]:
            yield Ref(t.format(f=family, p=el.period, pth=ordinal(el.period)), 1, "family")
    for t in ELEMENT_BY["cell"]:
        yield Ref(t.format(p=el.period, g=el.group), 1, "cell")


# --- subdivisions and languages -------------------------------------------------------------------


@functools.cache
def subdivision_refs() -> tuple[tuple[Subdivision, tuple[Ref, ...]], ...]:
    """Every subdivision with its descriptions; a capital shared by two subdivisions of one
    country (Chandigarh) describes neither."""
    result = []
    for country in sorted({s.country for s in graph.subdivisions()}):
        members = [s for s in graph.subdivisions() if s.country == country]
        unique = iter_unique((norm(s.capital), s.name) for s in members)
        for s in members:
            own = unique.get(norm(s.capital)) == s.name
            result.append((s, tuple(_subdivision_refs(s, own))))
    return tuple(result)


def _subdivision_refs(s: Subdivision, capital_unique: bool) -> Iterator[Ref]:
    """Name, capital (when no other subdivision of its country has it) and ISO 3166-2 code."""
    for t in SUBDIVISION_BY["name"]:
        yield Ref(t.format(label=s.label, name=s.name), 0, "", names=(s.name,))
    if capital_unique:
        for t in SUBDIVISION_BY["capital"]:
            yield Ref(t.format(label=s.label, k=s.capital), 1, "capital", names=(s.capital,))
    if s.code:
        suffix = s.code.split("-", 1)[1]
        for t in SUBDIVISION_BY["code"]:
            yield Ref(t.format(label=s.label, k=s.code), 1, "iso3166_2", codes=(suffix,))


def language_refs(code2: str, code3: str) -> Iterator[Ref]:
    for kind, code in (("iso639_1", code2), ("iso639_3", code3)):
        if not code:
            continue
        for t in LANGUAGE_BY[kind]:
            yield Ref(t.format(k=code), 1, kind, codes=(code,))
