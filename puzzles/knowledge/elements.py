"""Chemical elements from ``periodictable``: names from atomic numbers, symbols, neighbours in the
table, positions (period and group) and arithmetic on atomic numbers.

The group of an element is computed from its atomic number with the standard 18-column layout;
group 3 and the f-block are skipped because their placement differs between tables.

Tiers: atomic numbers up to 10 and everyday symbols are tier 1, up to 30 tier 2, the rest and every
multi-hop clue (neighbours, "two more than", "twice") tier 3.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from puzzles.draft import ClueDraft
from puzzles.knowledge._common import choose, make, ordinal, same_initial, shares_prefix

SOURCE = "builtin:elements"
DOMAIN = "Chemistry"
_PERIOD_ENDS = (2, 10, 18, 36, 54, 86, 118)
# Symbols from Latin or German names that most people learn at school.
_EVERYDAY_SYMBOLS = frozenset({"Fe", "Au", "Ag", "Pb", "Hg", "Na", "K", "Cu"})
_FAMILIES = {
    1: "alkali metal",
    2: "alkaline earth metal",
    17: "halogen",
    18: "noble gas",
}


@dataclass(frozen=True, slots=True)
class Element:
    number: int
    symbol: str
    name: str
    period: int
    group: int | None  # None for the f-block and the disputed group 3


def _period_and_group(z: int) -> tuple[int, int | None]:
    start = 0
    for period, end in enumerate(_PERIOD_ENDS, start=1):
        if z <= end:
            pos = z - start  # 1-based position within the period
            width = end - start
            if width == 2:
                return period, 1 if pos == 1 else 18
            if width == 8:
                return period, pos if pos <= 2 else pos + 10
            if width == 18:
                return period, pos if pos != 3 else None
            # 32-wide periods: s-block, 15 f-block/group-3 slots, then groups 4..18
            if pos <= 2:
                return period, pos
            return period, pos - 14 if pos >= 18 else None
        start = end
    raise ValueError(f"no element with atomic number {z}")


@functools.cache
def elements() -> tuple[Element, ...]:
    import periodictable

    result = []
    for el in periodictable.elements:
        if el.number <= 0:  # the package lists a free neutron as element 0
            continue
        period, group = _period_and_group(el.number)
        result.append(Element(el.number, el.symbol, el.name.capitalize(), period, group))
    return tuple(result)


def _tier(z: int) -> int:
    return 1 if z <= 10 else 2 if z <= 30 else 3


def _by_number() -> Iterator[ClueDraft]:
    templates = (
        "Which chemical element has atomic number {z}?",
        "Name the element with {z} protons in its nucleus.",
        "Which element sits at position {z} of the periodic table (by atomic number)?",
    )
    for el in elements():
        yield make(
            domain=DOMAIN,
            text=choose(templates, el.symbol).format(z=el.number),
            answer=el.name,
            tier=_tier(el.number),
            source=SOURCE,
            relation="element_of_atomic_number",
        )


def _by_symbol() -> Iterator[ClueDraft]:
    """Only symbols that do not start with the answer's initial (Fe, Au, Pb, W...)."""
    templates = (
        "Which element has the chemical symbol {s}?",
        "The chemical symbol {s} stands for which element?",
    )
    for el in elements():
        if same_initial(el.symbol, el.name):
            continue
        yield make(
            domain=DOMAIN,
            text=choose(templates, el.symbol).format(s=el.symbol),
            answer=el.name,
            tier=1 if el.symbol in _EVERYDAY_SYMBOLS else 2,
            source=SOURCE,
            relation="element_of_symbol",
        )


def _neighbours() -> Iterator[ClueDraft]:
    after = (
        "Which element comes right after {x} in the periodic table?",
        "Name the element whose atomic number is one more than that of {x}.",
    )
    before = (
        "Which element comes right before {x} in the periodic table?",
        "Name the element whose atomic number is one less than that of {x}.",
    )
    els = elements()
    for prev, nxt in itertools.pairwise(els):
        tier = 2 if nxt.number <= 20 else 3
        if not shares_prefix(prev.name, nxt.name):
            yield make(
                domain=DOMAIN,
                text=choose(after, prev.symbol).format(x=prev.name.lower()),
                answer=nxt.name,
                tier=tier,
                source=SOURCE,
                relation="element_after",
            )
            yield make(
                domain=DOMAIN,
                text=choose(before, nxt.symbol).format(x=nxt.name.lower()),
                answer=prev.name,
                tier=tier,
                source=SOURCE,
                relation="element_before",
            )


def _arithmetic() -> Iterator[ClueDraft]:
    """Multi-hop: the solver must recall one atomic number and compute another."""
    by_z = {el.number: el for el in elements()}
    plus_two = (
        "Which element's atomic number is two more than that of {x}?",
        "Add 2 to the atomic number of {x}: which element do you get?",
    )
    minus_two = (
        "Which element's atomic number is two less than that of {x}?",
        "Subtract 2 from the atomic number of {x}: which element do you get?",
    )
    half = (
        "Which element's atomic number is exactly half that of {x}?",
        "Halve the atomic number of {x}: which element has that atomic number?",
    )
    double = (
        "Which element's atomic number is exactly twice that of {x}?",
        "Double the atomic number of {x}: which element has that atomic number?",
    )
    for el in elements():
        for target, templates, relation in (
            (by_z.get(el.number + 2), plus_two, "element_atomic_number_plus_two"),
            (by_z.get(el.number - 2), minus_two, "element_atomic_number_minus_two"),
            (by_z.get(el.number * 2), double, "element_atomic_number_doubled"),
            (
                by_z.get(el.number // 2) if el.number % 2 == 0 else None,
                half,
                "element_atomic_number_halved",
            ),
        ):
            if target is None or target is el or shares_prefix(el.name, target.name):
                continue
            yield make(
                domain=DOMAIN,
                text=choose(templates, el.symbol + relation).format(x=el.name.lower()),
                answer=target.name,
                tier=3,
                source=SOURCE,
                relation=relation,
            )


def _positions() -> Iterator[ClueDraft]:
    family = (
        "Which {f} is found in period {p} of the periodic table?",
        "Name the {f} in the {pth} period of the periodic table.",
    )
    cell = (
        "Which element is in group {g} and period {p} of the periodic table?",
        "Name the element in period {p}, group {g} of the periodic table.",
    )
    for el in elements():
        if el.group is None or el.number == 1 or el.number > 112:
            continue  # hydrogen is no alkali metal; 113+ are barely characterised
        name = _FAMILIES.get(el.group)
        if name is not None:
            text = choose(family, el.symbol).format(f=name, p=el.period, pth=ordinal(el.period))
            tier = 2 if el.period <= 5 else 3
            relation = "element_of_family_and_period"
        else:
            text = choose(cell, el.symbol).format(g=el.group, p=el.period)
            tier = 3
            relation = "element_of_group_and_period"
        yield make(
            domain=DOMAIN, text=text, answer=el.name, tier=tier, source=SOURCE, relation=relation
        )


def clues() -> Iterator[ClueDraft]:
    yield from _by_number()
    yield from _by_symbol()
    yield from _neighbours()
    yield from _arithmetic()
    yield from _positions()
