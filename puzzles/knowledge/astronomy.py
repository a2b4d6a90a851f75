"""Solar System facts from the curated table ``puzzles/data/astronomy.csv``: planets by order
from the Sun, the planet a moon orbits, and the largest moons (direct and multi-hop).

Tiers: inner planets and the order of planets are tier 1, moons of the giant planets tier 2,
lesser moons and multi-hop clues tier 3.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

from puzzles.draft import ClueDraft
from puzzles.knowledge._common import choose, make, ordinal, read_csv, shares_prefix

SOURCE = "builtin:astronomy"
DOMAIN = "Astronomy"
_FAMOUS_MOONS = frozenset({"Ganymede", "Callisto", "Europa", "Titan", "Phobos", "Deimos", "Charon"})
_SIZE_WORDS = {1: "largest", 2: "second-largest"}


@dataclass(frozen=True, slots=True)
class Body:
    name: str
    kind: str
    parent: str
    order: int
    rank: int


@functools.cache
def bodies() -> tuple[Body, ...]:
    return tuple(
        Body(
            name=row["name"].strip(),
            kind=row["kind"].strip(),
            parent=row["parent"].strip(),
            order=int(row["order"] or 0),
            rank=int(row["rank"] or 0),
        )
        for row in read_csv("astronomy.csv")
    )


def _parent_label(parent: str) -> str:
    return "the dwarf planet Pluto" if parent == "Pluto" else parent


def _planets() -> Iterator[ClueDraft]:
    by_order = (
        "Which planet is {nth} from the Sun?",
        "Counting outward from the Sun, which planet comes {nth}?",
    )
    between = (
        "Which planet orbits between {a} and {b}?",
        "Name the planet whose orbit lies between those of {a} and {b}.",
    )
    planets = sorted((b for b in bodies() if b.kind == "planet"), key=lambda b: b.order)
    for p in planets:
        yield make(
            domain=DOMAIN,
            text=choose(by_order, p.name).format(nth=ordinal(p.order)),
            answer=p.name,
            tier=1 if p.order <= 4 else 2,
            source=SOURCE,
            relation="planet_by_order",
        )
    for inner, mid, outer in zip(planets, planets[1:], planets[2:], strict=False):
        yield make(
            domain=DOMAIN,
            text=choose(between, mid.name).format(a=inner.name, b=outer.name),
            answer=mid.name,
            tier=1 if mid.order <= 5 else 2,
            source=SOURCE,
            relation="planet_between",
        )


def _moons() -> Iterator[ClueDraft]:
    host = (
        "The moon {m} orbits which planet?",
        "Which planet is {m} a natural satellite of?",
    )
    largest = (
        "What is the {size} moon of {p}?",
        "Name the {size} natural satellite of {p}.",
    )
    hop = (
        "What is the {size} moon of the {nth} planet from the Sun?",
        "Name the {size} moon of the planet that is {nth} from the Sun.",
    )
    order = {b.name: b.order for b in bodies() if b.kind == "planet"}
    for m in (b for b in bodies() if b.kind == "moon"):
        if m.parent in order and not shares_prefix(m.name, m.parent):
            yield make(
                domain=DOMAIN,
                text=choose(host, m.name).format(m=m.name),
                answer=m.parent,
                tier=2 if m.name in _FAMOUS_MOONS else 3,
                source=SOURCE,
                relation="planet_of_moon",
            )
        size = _SIZE_WORDS.get(m.rank)
        if size is None:
            continue
        yield make(
            domain=DOMAIN,
            text=choose(largest, m.name).format(size=size, p=_parent_label(m.parent)),
            answer=m.name,
            tier=2 if m.rank == 1 else 3,
            source=SOURCE,
            relation="moon_by_size",
        )
        if m.parent in order:
            yield make(
                domain=DOMAIN,
                text=choose(hop, m.name).format(size=size, nth=ordinal(order[m.parent])),
                answer=m.name,
                tier=3,
                source=SOURCE,
                relation="moon_by_size_of_planet_by_order",
            )


def clues() -> Iterator[ClueDraft]:
    yield from _planets()
    yield from _moons()
