"""One-hop clues of the large bank (tiers 1 and 2): each fact of the graph under many wordings.

A one-hop clue asks for one fact about a named entity ("the capital of Finland") or for the entity
one identifying key names ("the country whose internet domain is .fi").  Well-known facts about
prominent countries, the first elements and the planets are tier 1 (people get tier 1); every other
one-hop fact is tier 2.  Every frame x noun phrase combination is kept: the point of the large bank
is that a fact comes back in a new wording each time it is served.
"""

from __future__ import annotations

from collections.abc import Iterator

from puzzles.draft import ClueDraft
from puzzles.knowledge import graph, refs
from puzzles.knowledge._common import make, ordinal, same_initial, shares_prefix
from puzzles.knowledge.elements import _EVERYDAY_SYMBOLS
from puzzles.knowledge.phrasings import (
    CAPITAL_OF,
    CAPITAL_OF_NAMED,
    CITY,
    COUNTRY_QUESTIONS,
    CURRENCY,
    CURRENCY_OF,
    DEMONYM,
    DEMONYM_OF,
    ELEMENT_BY,
    LANGUAGE,
    LANGUAGE_OF,
    PLANET_BY,
    SUBDIVISION_CAPITAL_OF,
    combine,
    frame,
    named_frames,
    sentence,
)

SOURCE = "builtin:graph:fact"
_TIER1_KEYS = frozenset({"capital", "currency"})  # the keys people know for big countries


def _tier(c: graph.Country, kind: str) -> int:
    """Tier 1 for what people know of prominent countries: capitals and languages, and the money
    of the largest and the European ones (the yen, the zloty; not the kwanza or the ariary)."""
    if graph.prominence(c) != 1 or kind not in ("capital", "currency", "language"):
        return 2
    if kind == "currency" and not (c.region == "Europe" or c.population >= 60_000_000):
        return 2
    return 1


def _draft(domain: str, text: str, answer: str, tier: int, relation: str) -> ClueDraft:
    return make(
        domain=domain, text=text, answer=answer, tier=tier, source=SOURCE, relation=relation
    )


def attribute_texts(kind: str, x: refs.Ref, key: str, k: int | None = None) -> tuple[str, ...]:
    """Wordings asking for ``kind`` (capital, currency, language, demonym) of the referent of
    ``x``; possessive noun phrases only for a bare name."""
    nps, frames = {
        "capital": (CAPITAL_OF + (CAPITAL_OF_NAMED if x.named else ()), CITY),
        "currency": (CURRENCY_OF, CURRENCY),
        "language": (LANGUAGE_OF, LANGUAGE),
        "demonym": (DEMONYM_OF, DEMONYM),
    }[kind]
    xs = x.possessive() if x.named else ""
    return combine(nps, frames, key, k, x=x.text, xs=xs)


ATTRIBUTES = {
    "capital": ("Geography", graph.capital),
    "currency": ("Economics", graph.currency),
    "language": ("Linguistics", graph.language),
    "demonym": ("Demography", graph.demonym),
}


def country_attributes() -> Iterator[ClueDraft]:
    """Capital, currency, language, demonym of a named country."""
    for c in graph.sovereign():
        x = refs.name_ref(c)
        for kind, (domain, fact) in ATTRIBUTES.items():
            answer = fact(c)
            if answer is None or x.leaks(answer):
                continue
            if kind == "language" and same_initial(c.name, answer):
                continue  # "French" for France: the named country hands over the initial
            tier = _tier(c, kind)
            for text in attribute_texts(kind, x, c.alpha2 + kind):
                yield _draft(domain, text, answer, tier, kind)


def country_identities() -> Iterator[ClueDraft]:
    """The country one key or one border fact names: "Name the country whose capital is Oslo"."""
    frames = named_frames("country")
    for c in graph.sovereign():
        if not c.answerable:
            continue
        for x in refs.keyed_refs(c) + refs.neighbour_refs(c):
            if x.leaks(c.name):
                continue
            prominent = x.path in _TIER1_KEYS and _tier(c, x.path) == 1
            tier = 1 if prominent else 3 if x.path.startswith("common_neighbour") else 2
            for f in frames:
                yield _draft(_domain(x.path), frame(f, x.text), c.name, tier, f"country<-{x.path}")
        yield from _country_questions(c)


def _country_questions(c: graph.Country) -> Iterator[ClueDraft]:
    """Questions phrased from the key's side ("Oslo is the capital of which country?")."""
    for kind, key, _ in refs.key_values(c):
        first = next(r for r in refs.keyed_refs(c) if r.path == kind)
        if first.leaks(c.name):
            continue
        tier = 1 if kind in _TIER1_KEYS and _tier(c, kind) == 1 else 2
        for q in COUNTRY_QUESTIONS.get(kind, ()):
            text = sentence(q.format(k=key))
            yield _draft(_domain(kind), text, c.name, tier, f"country<-{kind}")


def _domain(path: str) -> str:
    head = path.split("<-")[-1]
    return {
        "tld": "Internet",
        "calling": "Telecommunications",
        "iso2": "Political geography",
        "iso3": "Political geography",
        "currency": "Economics",
        "demonym": "Demography",
    }.get(head, "Geography")


def element_facts() -> Iterator[ClueDraft]:
    """Elements by atomic number, symbol, position, and the element next to a named one."""
    frames = named_frames("element")
    by_z = graph.element_by_number()
    for el in graph.elements():
        for x in refs.element_keyed(el):
            if x.path == "number":
                tier = 1 if el.number <= 10 else 2
            elif x.path == "symbol":
                tier = 1 if el.symbol in _EVERYDAY_SYMBOLS else 2
            else:
                tier = 2
            for f in frames:
                yield _draft("Chemistry", frame(f, x.text), el.name, tier, f"element<-{x.path}")
        for step, kind in ((1, "after"), (-1, "before")):
            other = by_z.get(el.number - step)  # the element this one comes after / before
            if other is None or shares_prefix(other.name, el.name):
                continue
            tier = 1 if max(el.number, other.number) <= 10 else 2
            for np in ELEMENT_BY[kind]:
                text_np = np.format(x=other.name.lower())
                for f in frames:
                    yield _draft("Chemistry", frame(f, text_np), el.name, tier, f"element<-{kind}")


def planet_facts() -> Iterator[ClueDraft]:
    frames = named_frames("planet")
    planets = graph.planets()
    for p in planets:
        for np in PLANET_BY["order"]:
            for f in frames:
                text = frame(f, np.format(nth=ordinal(p.order)))
                yield _draft("Astronomy", text, p.name, 1, "planet<-order")
    for inner, mid, outer in zip(planets, planets[1:], planets[2:], strict=False):
        for np in PLANET_BY["between"]:
            for f in frames:
                text = frame(f, np.format(a=inner.name, b=outer.name))
                yield _draft("Astronomy", text, mid.name, 1, "planet<-between")
    for moon, planet in graph.moons():
        if shares_prefix(moon, planet.name):
            continue
        for np in PLANET_BY["moon"]:
            for f in frames:
                yield _draft(
                    "Astronomy", frame(f, np.format(m=moon)), planet.name, 2, "planet<-moon"
                )


def subdivision_facts() -> Iterator[ClueDraft]:
    """Capital of a named subdivision; the subdivision its capital or ISO code names."""
    domain = "Political geography"
    for s, sub_refs in refs.subdivision_refs():
        if not shares_prefix(s.name, s.capital):
            for x in sub_refs:
                if not x.named or x.leaks(s.capital):
                    continue
                for text in combine(SUBDIVISION_CAPITAL_OF, CITY, x.text, x=x.text):
                    yield _draft(domain, text, s.capital, 2, "capital<-subdivision")
        if not s.as_answer:
            continue
        for x in sub_refs:
            if x.named or x.leaks(s.name):
                continue
            for f in named_frames(s.kind):
                yield _draft(domain, frame(f, x.text), s.name, 2, f"subdivision<-{x.path}")


def language_facts() -> Iterator[ClueDraft]:
    frames = named_frames("language")
    for code2, code3, name in graph.language_codes():
        for x in refs.language_refs(code2, code3):
            if x.leaks(name):
                continue
            for f in frames:
                yield _draft("Linguistics", frame(f, x.text), name, 2, f"language<-{x.path}")


def clues() -> Iterator[ClueDraft]:
    yield from country_attributes()
    yield from country_identities()
    yield from element_facts()
    yield from planet_facts()
    yield from subdivision_facts()
    yield from language_facts()
