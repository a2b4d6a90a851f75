"""Composed clues of the large bank (tier 3): two or three relations chained over the fact graph.

* a fact of a country that is itself described: "the capital of the country whose currency is
  the kwacha", "the currency unit of the country bordering both Peru and Paraguay", up to "the
  capital of the only country bordering the country whose internet domain is .pt";
* the country a described neighbour pins down ("Name the only country bordering the country with
  calling code +351");
* arithmetic on atomic numbers: offsets, sums, differences, multiples, and numbers borrowed from
  another domain (a calling code, a planet's place from the Sun);
* the capital of a subdivision given by its ISO 3166-2 code.

Every description names one entity (``refs``), and every arithmetic result is one atomic number, so
each clue has exactly one answer.  Where the product of wordings is large, ``k`` wordings per
combination are taken (picked stably), so no single fact floods a letter's pool.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from puzzles.draft import ClueDraft
from puzzles.knowledge import graph, refs
from puzzles.knowledge._common import make, shares_prefix
from puzzles.knowledge.graph_facts import ATTRIBUTES, attribute_texts
from puzzles.knowledge.phrasings import (
    CITY,
    ELEMENT_BY,
    FRACTIONS,
    MULTIPLES,
    NUMBER_WORDS,
    PLANET_BY,
    SUBDIVISION_CAPITAL_OF,
    combine,
    frame,
    named_frames,
    pick,
)
from puzzles.validate import answer_initial

SOURCE = "builtin:graph:composed"
TIER = 3
_MAX_OFFSET = 20  # "the element 20 places after ..." is still arithmetic a person does in the head
# Hidden words are spelled from initials, so a letter's pool should be about as large as the letter
# is frequent in the word list; otherwise its pool runs dry first and the rest of the bank idles.
# Factors on the wordings per combination, from the letter frequencies of puzzles/data/words.txt
# against this module's output at factor 1 (vowels and n are scarce among answers; b, c, k, m, p
# and z abundant).  Answers of other initials get factor 1.
LETTER_FACTOR = {
    "a": 1.7,
    "e": 3.0,
    "i": 4.0,
    "n": 2.0,
    "l": 1.5,
    "o": 5.0,
    "u": 6.0,
    "t": 1.4,
    "r": 1.2,
    "s": 1.2,
    "w": 3.0,
    "y": 2.0,
    "v": 2.0,
    "x": 2.0,
    "j": 3.0,
    "q": 3.0,
    "b": 0.5,
    "c": 0.7,
    "f": 0.6,
    "k": 0.5,
    "m": 0.6,
    "p": 0.6,
    "z": 0.3,
}


def wordings(k: int, answer: str, key: str) -> int:
    """How many wordings one combination gets: ``k`` scaled by the answer's letter factor; the
    fractional part decides by a stable hash of ``key`` whether one more (or any) is taken."""
    scaled = k * LETTER_FACTOR.get(answer_initial(answer), 1.0)
    whole = int(scaled)
    extra = zlib.crc32(key.encode("utf-8")) % 1000 < (scaled - whole) * 1000
    return whole + int(extra)


def _draft(domain: str, text: str, answer: str, relation: str) -> ClueDraft:
    return make(
        domain=domain, text=text, answer=answer, tier=TIER, source=SOURCE, relation=relation
    )


# --- countries -------------------------------------------------------------------------------------

# Wordings per (description, fact): one-hop descriptions are many, so a few wordings each.
_PER_KEYED = 3
_PER_NEIGHBOUR = 3
_PER_DEEP = 1


def country_facts_of_described() -> Iterator[ClueDraft]:
    """A fact (capital, currency, language, demonym) of a country given by a description."""
    for c in graph.sovereign():
        groups = (
            (refs.keyed_refs(c), _PER_KEYED),
            (refs.neighbour_refs(c), _PER_NEIGHBOUR),
            (refs.deep_refs(c), _PER_DEEP),
        )
        for kind, (domain, fact) in ATTRIBUTES.items():
            answer = fact(c)
            if answer is None or shares_prefix(c.name, answer):
                continue
            for group, k in groups:
                for x in group:
                    if x.path.split("<-")[-1] == kind or x.leaks(answer):
                        continue  # "the capital of the country whose capital is ..." says nothing
                    for text in attribute_texts(
                        kind, x, x.text + kind, wordings(k, answer, x.text + kind)
                    ):
                        yield _draft(domain, text, answer, f"{kind}<-{x.path}")


def countries_of_deep_descriptions() -> Iterator[ClueDraft]:
    """The country a neighbour relation over a described country names."""
    frames = named_frames("country")
    for c in graph.sovereign():
        if not c.answerable:
            continue
        for x in refs.deep_refs(c):
            if x.leaks(c.name):
                continue
            for f in pick(frames, x.text, wordings(2, c.name, x.text)):
                yield _draft("Geography", frame(f, x.text), c.name, f"country<-{x.path}")


# --- elements --------------------------------------------------------------------------------------

_PER_OFFSET = 2
_PER_PAIR = 1


def _operands(el: graph.Element) -> tuple[refs.Ref, ...]:
    return (refs.element_name(el), refs.element_symbol(el))


def _numerals(k: int) -> tuple[str, ...]:
    return (str(k), NUMBER_WORDS[k]) if k < len(NUMBER_WORDS) else (str(k),)


def _element_texts(nps: tuple[str, ...], key: str, n: int | None, **fill: str) -> tuple[str, ...]:
    return combine(nps, named_frames("element"), key, n, **fill)


def element_offsets() -> Iterator[ClueDraft]:
    """The element k places after or before another (k = 2..20; k = 1 is a one-hop fact)."""
    by_z = graph.element_by_number()
    for el in graph.elements():
        for step in range(2, _MAX_OFFSET + 1):
            for sign, kind in ((1, "plus"), (-1, "minus")):
                target = by_z.get(el.number + sign * step)
                if target is None:
                    continue
                for x in _operands(el):
                    if x.leaks(target.name):
                        continue
                    for numeral in _numerals(step):
                        key = f"{x.text}{kind}{numeral}"
                        for text in _element_texts(
                            ELEMENT_BY[kind],
                            key,
                            wordings(_PER_OFFSET, target.name, key),
                            x=x.text,
                            k=numeral,
                        ):
                            yield _draft(
                                "Chemistry",
                                text,
                                target.name,
                                f"element<-{kind}<-{x.path or 'name'}",
                            )


def element_sums_and_differences() -> Iterator[ClueDraft]:
    """The element whose atomic number is the sum or difference of two others'."""
    by_z = graph.element_by_number()
    els = graph.elements()
    for a in els:
        for b in els:
            if a.number == b.number:
                continue
            for kind, z in (("sum", a.number + b.number), ("difference", a.number - b.number)):
                if kind == "sum" and a.number > b.number:
                    continue  # one order per pair; the wording is symmetric
                target = by_z.get(z)
                if target is None or target.number in (a.number, b.number):
                    continue
                for x in _operands(a):
                    for y in _operands(b):
                        if x.leaks(target.name) or y.leaks(target.name):
                            continue
                        if x.path != y.path:
                            continue  # both by name or both by symbol: reads evenly
                        key = f"{x.text}|{kind}|{y.text}"
                        for text in _element_texts(
                            ELEMENT_BY[kind],
                            key,
                            wordings(_PER_PAIR, target.name, key),
                            x=x.text,
                            y=y.text,
                        ):
                            yield _draft(
                                "Chemistry",
                                text,
                                target.name,
                                f"element<-{kind}<-{x.path or 'name'}",
                            )


def element_multiples() -> Iterator[ClueDraft]:
    by_z = graph.element_by_number()
    for el in graph.elements():
        for m, words in MULTIPLES.items():
            target = by_z.get(el.number * m)
            yield from _scaled(el, target, words, "times")
        for d, words in FRACTIONS.items():
            target = by_z.get(el.number // d) if el.number % d == 0 else None
            yield from _scaled(el, target, words, "fraction")


def _scaled(
    el: graph.Element,
    target: graph.Element | None,
    words: tuple[tuple[str, str], ...],
    kind: str,
) -> Iterator[ClueDraft]:
    if target is None or target.number == el.number:
        return
    for x in _operands(el):
        if x.leaks(target.name):
            continue
        for of_word, as_word in words:
            for np in ELEMENT_BY[kind]:
                for f in named_frames("element"):
                    text = frame(f, np.format(m=of_word, n=as_word, x=x.text))
                    yield _draft(
                        "Chemistry", text, target.name, f"element<-{kind}<-{x.path or 'name'}"
                    )


def elements_from_other_domains() -> Iterator[ClueDraft]:
    """Atomic numbers borrowed from a calling code or a planet's place from the Sun."""
    by_z = graph.element_by_number()
    for c in graph.sovereign():
        code = graph.calling_code(c)
        target = by_z.get(int(code)) if code and code.isdigit() else None
        if target is None:
            continue
        for x in (refs.name_ref(c), *refs.keyed_refs(c)):
            if x.path == "calling" or x.leaks(target.name):
                continue
            key = x.text + "calling"
            texts = _element_texts(ELEMENT_BY["calling"], key, 2 if x.named else 1, x=x.text)
            for text in texts:
                yield _draft(
                    "Chemistry", text, target.name, f"element<-calling<-{x.path or 'name'}"
                )
    moons_of: dict[str, list[str]] = {}
    for moon, planet in graph.moons():
        moons_of.setdefault(planet.name, []).append(moon)
    for p in graph.planets():
        target = by_z[p.order]
        subjects = [p.name] + [
            np.format(m=m) for m in moons_of.get(p.name, []) for np in PLANET_BY["moon"]
        ]
        for subject in subjects:
            if shares_prefix(subject, target.name):
                continue
            for np in ELEMENT_BY["planet"]:
                for f in named_frames("element"):
                    text = frame(f, np.format(x=subject))
                    yield _draft("Chemistry", text, target.name, "element<-planet_order")


# --- subdivisions ------------------------------------------------------------------------------------


def subdivision_capitals_by_code() -> Iterator[ClueDraft]:
    """ "The capital of the US state with ISO 3166-2 code US-WY": code -> subdivision -> capital."""
    for s, sub_refs in refs.subdivision_refs():
        if shares_prefix(s.name, s.capital):
            continue
        for x in sub_refs:
            if x.path != "iso3166_2" or x.leaks(s.capital):
                continue
            for text in combine(SUBDIVISION_CAPITAL_OF, CITY, x.text, 6, x=x.text):
                yield _draft(
                    "Political geography", text, s.capital, "capital<-subdivision<-iso3166_2"
                )


def clues() -> Iterator[ClueDraft]:
    yield from country_facts_of_described()
    yield from countries_of_deep_descriptions()
    yield from element_offsets()
    yield from element_sums_and_differences()
    yield from element_multiples()
    yield from elements_from_other_domains()
    yield from subdivision_capitals_by_code()
