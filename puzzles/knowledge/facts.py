"""Facts for grounded LLM clue writing: (domain, answer, facts-text) triples.

The LLM factory's grounded mode gives a model an answer and a few true statements about it, and
the model writes the clue.  The statements come from the same data the deterministic generators
use (``countries``, ``elements``, ``astronomy``, ``currencies``), so every grounded clue rests on
facts this project already trusts, and the same exclusions apply (countries with disputed names or
capitals are never answers).  Several facts per answer let the model chain them ("the capital of the
country whose internet domain is .fi"), which is what makes a clue multi-hop.

The triples are deterministic and ordered; ``tier`` is the generators' own tier for the plain fact
and only a hint for the model (calibration sets the clue's real tier).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from puzzles.knowledge import astronomy, countries, currencies, elements
from puzzles.knowledge._common import long_enough, ordinal, shares_prefix


@dataclass(frozen=True, slots=True)
class Fact:
    domain: str
    answer: str
    facts: str  # one statement per line, each true of ``answer``
    tier: int
    relation: str  # what the answer is ("country", "capital", "element"...)

    def __repr__(self) -> str:  # answers stay out of logs
        return f"Fact(domain={self.domain!r}, relation={self.relation!r}, tier={self.tier})"


def _lines(*items: str | None) -> str:
    return "\n".join(f"- {item}" for item in items if item)


def _country_facts() -> list[Fact]:
    by_a3 = countries.by_alpha3()
    units = currencies.currency_units()
    result: list[Fact] = []
    for c in countries.countries():
        region = "the Americas" if c.region == "Americas" else c.region
        neighbours = [by_a3[a3].name for a3 in c.borders if a3 in by_a3]
        border = (
            f"It shares land borders with {', '.join(neighbours)}."
            if neighbours and countries.borders_complete(c)
            else None
        )
        if c.answerable:
            result.append(
                Fact(
                    domain="Geography",
                    answer=c.name,
                    facts=_lines(
                        f"It is a sovereign country in {region}." if region else None,
                        f"Its capital city is {c.capital}." if c.has_capital else None,
                        border,
                        f"Its currency unit is the {units[c.alpha2]}."
                        if c.alpha2 in units
                        else None,
                        f"Its internet country-code domain is {c.tlds[0]}." if c.tlds else None,
                        f"Its international calling code is +{c.calling[0]}."
                        if len(c.calling) == 1
                        else None,
                    ),
                    tier=countries.prominence(c),
                    relation="country",
                )
            )
        # A capital named after its country (Andorra la Vella) cannot be clued without a leak.
        if c.has_capital and long_enough(c.capital) and not shares_prefix(c.name, c.capital):
            result.append(
                Fact(
                    domain="Geography",
                    answer=c.capital,
                    facts=_lines(
                        f"It is the capital city of {c.phrase}.",
                        f"{countries.sentence(c.phrase)} is in {region}." if region else None,
                        f"{countries.sentence(c.phrase)}'s internet domain is {c.tlds[0]}."
                        if c.tlds
                        else None,
                        f"{countries.sentence(c.phrase)}'s currency unit is the {units[c.alpha2]}."
                        if c.alpha2 in units
                        else None,
                    ),
                    tier=countries.prominence(c),
                    relation="capital",
                )
            )
    return result


def _element_facts() -> list[Fact]:
    table = elements.elements()
    result: list[Fact] = []
    for i, el in enumerate(table):
        before = table[i - 1].name if i > 0 else None
        after = table[i + 1].name if i + 1 < len(table) else None
        result.append(
            Fact(
                domain="Chemistry",
                answer=el.name,
                facts=_lines(
                    f"It is the chemical element with atomic number {el.number}.",
                    f"Its chemical symbol is {el.symbol}.",
                    f"It is in period {el.period} of the periodic table.",
                    f"It is in group {el.group}." if el.group else None,
                    f"The element before it by atomic number is {before}." if before else None,
                    f"The element after it by atomic number is {after}." if after else None,
                ),
                tier=1 if el.number <= 10 else 2 if el.number <= 30 else 3,
                relation="element",
            )
        )
    return result


def _astronomy_facts() -> list[Fact]:
    result: list[Fact] = []
    planets = {b.name: b for b in astronomy.bodies() if b.kind == "planet"}
    for body in astronomy.bodies():
        if body.kind == "planet":
            moons = [b.name for b in astronomy.bodies() if b.parent == body.name]
            facts = _lines(
                f"It is the {ordinal(body.order)} planet from the Sun.",
                f"Its moons include {', '.join(moons)}." if moons else "It has no natural moon.",
            )
            tier = 1 if body.order <= 4 else 2
        elif body.kind == "moon":
            parent = planets.get(body.parent)
            facts = _lines(
                f"It is a natural satellite (moon) of {body.parent}.",
                f"{body.parent} is the {ordinal(parent.order)} planet from the Sun."
                if parent
                else None,
                f"It is the {ordinal(body.rank)}-largest moon of {body.parent}."
                if body.rank
                else None,
            )
            tier = 2 if body.rank == 1 else 3
        else:
            facts = _lines(f"It is a dwarf planet of the Solar System ({body.kind}).")
            tier = 2
        result.append(
            Fact(domain="Astronomy", answer=body.name, facts=facts, tier=tier, relation=body.kind)
        )
    return result


@functools.cache
def fact_triples() -> tuple[Fact, ...]:
    """Every grounded fact bundle, in a fixed order (computed once per process)."""
    return tuple(_country_facts() + _element_facts() + _astronomy_facts())
