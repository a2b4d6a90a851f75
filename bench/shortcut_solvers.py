"""Model-free solvers for acrostic clues: the adversaries of ``bench/shortcut.py``.

Each solver turns one public clue (``domain``, ``text``) into a distribution over the initial of its
answer, or ``None`` when it has no idea; ``WordGuesser`` then turns the per-letter distributions of
a gate into ranked hidden-word guesses from the public word list.

- ``TemplateSolver`` reads the phrasings of the built-in generators (any attacker can read their
  code) and answers from public fact packages.  It does not match whole sentences: it finds what a
  clue asks for (a country, a capital, a currency unit, an element...) and resolves the subject
  through *signals* (a ``.pe`` domain, a ``+51`` code, "whose capital is Lima", a country named in
  the text, "two more than that of carbon"...).  Signals nest ("the capital of the country whose
  currency is the dram"), so compositions of relations need no new template, and adding a
  relation is one entry in ``COUNTRY_SIGNALS`` or one ``Target``.
- ``ReplaySolver`` runs the public generator code itself and remembers text -> answer: the
  ceiling of what reading the code gives against a bank built by those generators.
- ``Learner`` remembers clue texts it saw answered (text -> initial).
- ``Cryptogram`` treats every distinct clue text as an unknown letter and solves the substitution
  so that harvested gates spell words of the word list (loopy belief propagation, numpy).
- ``FrequencyGuesser`` reads no clue at all.

None of them reads the clue bank; ``bench/shortcut_oracle.py`` is the only code that does.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.shortcut_facts import FAMILY_GROUPS, FactBase, facts, fold, initial_of

Dist = dict[str, float]  # initial letter -> probability
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def dist_of(answers: Iterable[str]) -> Dist | None:
    counts = Counter(i for a in answers if (i := initial_of(a)))
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else None


def normalise_clue(text: str) -> str:
    """The learner's and the cryptogram's key: what a client can compute from the public text."""
    return fold(text)


# --- the template solver -------------------------------------------------------------------------

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_ORDINAL_WORDS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
}
_SUBDIVISION_WORDS = re.compile(
    r"\b(state|province|territory|region|subdivision|iso 3166-2|land|prefecture|oblast|canton)\b",
    re.I,
)


def _number(word: str) -> int | None:
    word = word.lower()
    if word.isdigit():
        return int(word)
    return _NUMBER_WORDS.get(word)


def _ordinal(text: str) -> int | None:
    match = re.search(r"\b(\d+)(?:st|nd|rd|th)\b", text)
    if match:
        return int(match.group(1))
    for word, n in _ORDINAL_WORDS.items():
        if re.search(rf"\b{word}\b", text, re.I):
            return n
    return None


CountrySignal = Callable[[FactBase, str, str], set[str] | None]  # (facts, text, folded) -> alpha2s


def _sig_tld(fb: FactBase, text: str, low: str) -> set[str] | None:
    tlds = re.findall(r"(?<![\w.])(\.[a-z]{2})\b", text.lower())
    if not tlds:
        return None
    return {c.alpha2 for c in fb.countries.values() if c.tlds & set(tlds)}


def _sig_calling(fb: FactBase, text: str, low: str) -> set[str] | None:
    codes = re.findall(r"\+\s?(\d{1,4})\b", text)
    if not codes:
        return None
    return {c.alpha2 for c in fb.countries.values() if c.calling & set(codes)}


def _sig_iso(fb: FactBase, text: str, low: str) -> set[str] | None:
    if not re.search(r"iso 3166-1|alpha-[23]|(two|three)-letter|iso (country )?code", low):
        return None
    if "iso 3166-2" in low or "639" in low:
        return None
    found: set[str] = set()
    for code in re.findall(r"\b([A-Z]{2,3})\b", text):
        if code == "ISO":
            continue
        if len(code) == 2 and code in fb.countries:
            found.add(code)
        elif len(code) == 3 and code in fb.by_alpha3:
            found.add(fb.by_alpha3[code].alpha2)
    return found or None


def _spans_two(fb: FactBase, part: str) -> bool:
    """A split side naming two countries ("Bosnia" + ...) is the wrong split point."""
    return len(fb.mentions(part, fb.country_names)) > 1


def _sig_border(fb: FactBase, text: str, low: str) -> set[str] | None:
    if not re.search(r"border|neighbo", low):
        return None
    # each side may itself be a description: "borders both X and Y" with X, Y resolved alone
    sides: list[set[str]] = []
    both = re.search(r"\bboth (.+?)[?.]?$", text)
    if both:
        # "both Bosnia and Herzegovina and Serbia": try every " and " as the split point
        rest = both.group(1)
        for cut in [m.start() for m in re.finditer(r" and ", rest)]:
            left = resolve_countries(fb, rest[:cut], exclude={"border"})
            right = resolve_countries(fb, rest[cut + 5 :], exclude={"border"})
            if (
                left
                and right
                and not _spans_two(fb, rest[:cut])
                and not _spans_two(fb, rest[cut + 5 :])
            ):
                sides = [left, right]
                break
    if not sides:
        sides = [fb.country_names[k] for k in fb.mentions(text, fb.country_names)]
    if not sides:
        return None
    neighbour_sets = [
        {
            fb.by_alpha3[b].alpha2
            for a2 in side
            for b in fb.countries[a2].borders
            if b in fb.by_alpha3
        }
        for side in sides
    ]
    common = set.intersection(*neighbour_sets)
    mentioned = set().union(*sides)
    return (common - mentioned) or None


def _sig_capital(fb: FactBase, text: str, low: str) -> set[str] | None:
    if "capital" not in low:
        return None
    keys = fb.mentions(text, fb.capitals)
    # a capital named like its country ("Mexico City") is a capital mention, not a country one
    return set().union(*(fb.capitals[k] for k in keys)) if keys else None


def _sig_currency(fb: FactBase, text: str, low: str) -> set[str] | None:
    if not re.search(r"currenc|money|unit|legal tender|pay", low):
        return None
    keys = fb.mentions(text, fb.units)
    return set().union(*(fb.units[k] for k in keys)) if keys else None


def _sig_language(fb: FactBase, text: str, low: str) -> set[str] | None:
    if not re.search(r"language|speak|spoken|tongue", low):
        return None
    keys = fb.mentions(text, fb.languages)
    return set().union(*(fb.languages[k] for k in keys)) if keys else None


def _sig_demonym(fb: FactBase, text: str, low: str) -> set[str] | None:
    if not re.search(r"people|citizen|called|nationality|demonym|described as", low):
        return None
    keys = fb.mentions(text, fb.demonyms)
    return set().union(*(fb.demonyms[k] for k in keys)) if keys else None


def _sig_name(fb: FactBase, text: str, low: str) -> set[str] | None:
    keys = fb.mentions(text, fb.country_names)
    return set().union(*(fb.country_names[k] for k in keys)) if keys else None


# Tried in order; the first signal that yields countries decides.  Codes first (they are exact),
# then relations to a named entity, then a country named outright.
COUNTRY_SIGNALS: tuple[tuple[str, CountrySignal], ...] = (
    ("tld", _sig_tld),
    ("calling", _sig_calling),
    ("iso", _sig_iso),
    ("border", _sig_border),
    ("capital", _sig_capital),
    ("currency", _sig_currency),
    ("language", _sig_language),
    ("demonym", _sig_demonym),
    ("name", _sig_name),
)


def resolve_countries(
    fb: FactBase, text: str, exclude: set[str] | frozenset[str] = frozenset()
) -> set[str]:
    low = text.lower()
    for name, signal in COUNTRY_SIGNALS:
        if name in exclude:
            continue
        found = signal(fb, text, low)
        if found:
            return found
    return set()


def resolve_subdivisions(fb: FactBase, text: str) -> list:
    codes = re.findall(r"\b([A-Z]{2}-[A-Z0-9]{1,3})\b", text)
    found = [fb.subdivision_codes[c] for c in codes if c in fb.subdivision_codes]
    if found:
        return found
    keys = fb.mentions(text, fb.subdivision_names)
    return [s for k in keys for s in fb.subdivision_names[k]]


def _element_ops(low: str) -> list[Callable[[list[int]], list[int]]]:
    """Atomic-number arithmetic named in the clue, applied to the numbers of the named elements."""
    ops: list[Callable[[list[int]], list[int]]] = []
    if re.search(r"\bsum\b|\badd(ed)? together\b|combined", low):
        ops.append(lambda zs: [sum(zs)] if len(zs) >= 2 else [])
        return ops
    if re.search(r"\bdifference\b", low):
        ops.append(lambda zs: [abs(zs[0] - zs[1])] if len(zs) >= 2 else [])
        return ops
    if re.search(r"\bproduct\b", low):
        ops.append(lambda zs: [zs[0] * zs[1]] if len(zs) >= 2 else [])
        return ops
    for match in re.finditer(
        r"\b(\w+) (?:more|greater|higher) than\b|\badd (\w+)\b|\bplus (\w+)\b", low
    ):
        n = _number(next(g for g in match.groups() if g))
        if n is not None:
            ops.append(lambda zs, n=n: [z + n for z in zs])
    for match in re.finditer(
        r"\b(\w+) (?:less|fewer|lower) than\b|\bsubtract (\w+)\b|\bminus (\w+)\b", low
    ):
        n = _number(next(g for g in match.groups() if g))
        if n is not None:
            ops.append(lambda zs, n=n: [z - n for z in zs])
    if re.search(r"right after|comes after|immediately after|follows|next after|succeeds", low):
        ops.append(lambda zs: [z + 1 for z in zs])
    if re.search(r"right before|comes before|immediately before|precedes|just before", low):
        ops.append(lambda zs: [z - 1 for z in zs])
    if re.search(r"\bhalf\b|\bhalve", low):
        ops.append(lambda zs: [z // 2 for z in zs if z % 2 == 0])
    if re.search(r"\btwice\b|\bdouble|\btwo times\b", low):
        ops.append(lambda zs: [z * 2 for z in zs])
    if re.search(r"\bthrice\b|\btriple|\bthree times\b", low):
        ops.append(lambda zs: [z * 3 for z in zs])
    return ops


def resolve_elements(fb: FactBase, text: str) -> set[int]:
    low = text.lower()
    names = [fb.element_names[k] for k in fb.mentions(text, fb.element_names)]
    ops = _element_ops(low)
    if names and ops:
        zs = names
        for op in ops:
            zs = op(zs)
        return {z for z in zs if z in fb.elements}
    direct = re.search(
        r"atomic number (?:is |of )?(\d+)|(\d+) protons|position (\d+)|element (?:number |no\.? )(\d+)|\bz ?= ?(\d+)",
        low,
    )
    if direct:
        z = int(next(g for g in direct.groups() if g))
        if ops and not names:
            zs = [z]
            for op in ops:
                zs = op(zs)
            return {x for x in zs if x in fb.elements}
        return {z} if z in fb.elements else set()
    symbol = re.search(r"symbol\s+'?([A-Z][a-z]?)\b", text)
    if symbol and symbol.group(1) in fb.element_symbols:
        return {fb.element_symbols[symbol.group(1)]}
    period = re.search(r"period (\d)", low)
    period_n = int(period.group(1)) if period else (_ordinal(low) if "period" in low else None)
    group = re.search(r"group (\d+)", low)
    if period_n and group:
        g = int(group.group(1))
        return {e.number for e in fb.elements.values() if e.period == period_n and e.group == g}
    for family, g in FAMILY_GROUPS.items():
        if family in low and period_n:
            return {e.number for e in fb.elements.values() if e.period == period_n and e.group == g}
    return set(names) if names and not ops else set()


def _planet_by_ref(fb: FactBase, text: str) -> list[str]:
    low = text.lower()
    if "pluto" in low:
        return ["Pluto"]
    planets = fb.planets()
    if "sun" in low:
        n = _ordinal(low)
        if n:
            return [p.name for p in planets if p.order == n]
    named = [fb.bodies[k] for k in fb.mentions(text, fb.bodies) if fb.bodies[k].kind == "planet"]
    return [p.name for p in named]


def solve_planet(fb: FactBase, text: str) -> list[str]:
    low = text.lower()
    planets = fb.planets()
    named = [fb.bodies[k] for k in fb.mentions(text, fb.bodies)]
    moons = [b for b in named if b.kind == "moon"]
    if moons and re.search(r"orbit|satellite|moon", low):
        return [m.parent for m in moons]
    named_planets = [b for b in named if b.kind == "planet"]
    if len(named_planets) == 2 and "between" in low:
        lo, hi = sorted(p.order for p in named_planets)
        return [p.name for p in planets if lo < p.order < hi]
    if "sun" in low or "outward" in low:
        n = _ordinal(low)
        if n:
            return [p.name for p in planets if p.order == n]
    return []


def solve_moon(fb: FactBase, text: str) -> list[str]:
    low = text.lower()
    rank = 2 if re.search(r"second[- ]largest|second[- ]biggest", low) else 1
    rest = re.split(r"\b(?:moon|satellite) of\b", text, maxsplit=1)
    parents = _planet_by_ref(fb, rest[1] if len(rest) > 1 else text)
    return [
        b.name
        for b in fb.bodies.values()
        if b.kind == "moon" and b.parent in parents and b.rank == rank
    ]


@dataclass(frozen=True, slots=True)
class Target:
    """One kind of answer a clue can ask for: when ``asks`` matches, ``solve`` finds answers."""

    name: str  # reported as the template family
    asks: re.Pattern[str]
    solve: Callable[[FactBase, str, re.Match[str]], list[str]]


def _t_country(fb: FactBase, text: str, m: re.Match[str]) -> list[str]:
    return [c.name for c in fb.country_set(resolve_countries(fb, text))]


def _t_capital(fb: FactBase, text: str, m: re.Match[str]) -> list[str]:
    ref = m.group("ref")
    if _SUBDIVISION_WORDS.search(ref):
        subs = resolve_subdivisions(fb, ref)
        if subs:
            return [s.capital for s in subs]
    countries = resolve_countries(fb, ref)
    if countries:
        return [c.capital for c in fb.country_set(countries) if c.capital]
    return [s.capital for s in resolve_subdivisions(fb, ref)]


def _t_unit(fb: FactBase, text: str, m: re.Match[str]) -> list[str]:
    countries = resolve_countries(fb, text, exclude={"currency"})
    return [u for c in fb.country_set(countries) for u in sorted(c.units)]


def _t_language(fb: FactBase, text: str, m: re.Match[str]) -> list[str]:
    code = re.search(r"'([a-z]{2,3})'|\bcode ([a-z]{2,3})\b", text)
    if code and re.search(r"639|language code", text.lower()):
        key = next(g for g in code.groups() if g)
        return [fb.lang_codes[key]] if key in fb.lang_codes else []
    countries = resolve_countries(fb, text, exclude={"language"})
    # "main" language: the first listed language of a country is its main one in countryinfo
    return [lang for c in fb.country_set(countries) for lang in sorted(c.languages)[:3]]


def _t_demonym(fb: FactBase, text: str, m: re.Match[str]) -> list[str]:
    countries = resolve_countries(fb, text, exclude={"demonym"})
    return [c.demonym for c in fb.country_set(countries) if c.demonym]


def _t_element(fb: FactBase, text: str, m: re.Match[str]) -> list[str]:
    return [fb.elements[z].name for z in sorted(resolve_elements(fb, text))]


def _t_subdivision(fb: FactBase, text: str, m: re.Match[str]) -> list[str]:
    subs = resolve_subdivisions(fb, text)
    codes_or_names = [s.name for s in subs if s.code and s.code in text]
    if codes_or_names:
        return codes_or_names
    keys = fb.mentions(text, fb.subdivision_capitals)
    return [s.name for k in keys for s in fb.subdivision_capitals[k]]


def _t_planet(fb: FactBase, text: str, m: re.Match[str]) -> list[str]:
    return solve_planet(fb, text)


def _t_moon(fb: FactBase, text: str, m: re.Match[str]) -> list[str]:
    return solve_moon(fb, text)


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I)


# Order matters: the first target whose question form matches and which finds an answer wins.
TARGETS: tuple[Target, ...] = (
    Target(
        "capital",
        _re(
            r"^(?:what is|what's|name|which city is|give)\s+the\s+(?:national\s+)?capital(?:\s+city)?\s+of\s+(?P<ref>.+)$"
        ),
        _t_capital,
    ),
    Target(
        "subdivision",
        _re(
            r"which (?:us|canadian|australian|german|indian|mexican|brazilian) \w+|name the (?:us|canadian|australian|german|indian|mexican|brazilian) \w+|iso 3166-2 subdivision code"
        ),
        _t_subdivision,
    ),
    Target(
        "country",
        _re(
            r"\bwhich country\b|\bwhat country\b|\bname the (?:one |only )?country\b|\bthe only country\b|\bwhich one\b|\bwhich country's\b|\bwhich nation\b"
        ),
        _t_country,
    ),
    Target("unit", _re(r"currenc|unit of money|monetary unit"), _t_unit),
    Target("language", _re(r"\blanguage\b"), _t_language),
    Target("demonym", _re(r"adjective for people|nationality word|demonym"), _t_demonym),
    Target("planet", _re(r"\bwhich planet\b|\bname the planet\b|outward from the sun"), _t_planet),
    Target("moon", _re(r"\bmoon\b|natural satellite"), _t_moon),
    Target("element", _re(r"\belement\b|\bhalogen\b|\bnoble gas\b|\bmetal\b"), _t_element),
)


@dataclass(frozen=True, slots=True)
class Reading:
    dist: Dist | None
    family: str  # which target (or "curated", "unknown") read the clue


class TemplateSolver:
    name = "template"

    def __init__(self, fb: FactBase | None = None) -> None:
        from bench.shortcut_grammar import Reader

        self.fb = fb or facts()
        self.grammar = Reader(self.fb)

    def read(self, domain: str, text: str) -> Reading:
        key = fold(text)
        if key in self.fb.curated:
            return Reading(dist_of([self.fb.curated[key]]), "curated")
        # the compositional grammar first (exact templates, nested noun phrases), then signals
        entities, how = self.grammar.read(text)
        if entities:
            weights: Counter[str] = Counter()
            for e in entities:
                if letter := initial_of(self.grammar.answer(e)):
                    weights[letter] += self.grammar.weight(e)
            total = sum(weights.values())
            if total:
                return Reading({k: v / total for k, v in weights.items()}, f"grammar:{how}")
        for target in TARGETS:
            match = target.asks.search(text.strip())
            if match is None:
                continue
            try:
                answers = target.solve(self.fb, text.strip(), match)
            except (ValueError, KeyError, IndexError, StopIteration):
                answers = []
            dist = dist_of(answers)
            if dist:
                return Reading(dist, target.name)
        return Reading(None, "unknown")

    def solve(self, domain: str, text: str) -> Dist | None:
        return self.read(domain, text).dist


class ReplaySolver:
    """Runs the public clue generators (``puzzles.knowledge``) and remembers text -> answer."""

    name = "replay"

    def __init__(self, graph: bool = False, cache: Path | None = None) -> None:
        self.table: dict[str, str] = {}
        self.error = ""
        stored = None
        if cache is not None:
            from bench.shortcut_harness import source_digest

            stored = cache / f"replay-{source_digest()}-{int(graph)}.json"
            if stored.exists():
                self.table = json.loads(stored.read_text())
                return
        self._generate(graph)
        if stored is not None and not self.error:
            stored.parent.mkdir(parents=True, exist_ok=True)
            stored.write_text(json.dumps(self.table))

    def _generate(self, graph: bool) -> None:
        try:
            from puzzles.knowledge import builtin_clues

            for draft in builtin_clues():
                self.table[fold(draft.text)] = draft.answer
        except Exception as exc:  # the generators are being edited: a broken import is a finding
            self.error = repr(exc)
        if graph:
            try:
                from puzzles.knowledge.graph_bank import graph_clues

                for draft in graph_clues():
                    self.table.setdefault(fold(draft.text), draft.answer)
            except Exception as exc:
                self.error += f" graph: {exc!r}"

    def solve(self, domain: str, text: str) -> Dist | None:
        answer = self.table.get(fold(text))
        return dist_of([answer]) if answer else None


class Learner:
    """Record-and-learn lookup: remembers every clue text it saw in a solved challenge."""

    name = "learner"

    def __init__(self) -> None:
        self.memory: dict[str, Counter[str]] = {}
        self.observed = 0

    def observe(self, gates: Sequence[Sequence[str]], words: Sequence[str]) -> None:
        self.observed += 1
        for texts, word in zip(gates, words, strict=True):
            for text, letter in zip(texts, word, strict=False):
                self.memory.setdefault(normalise_clue(text), Counter())[letter] += 1

    def solve(self, domain: str, text: str) -> Dist | None:
        counts = self.memory.get(normalise_clue(text))
        if not counts:
            return None
        total = sum(counts.values())
        return {k: v / total for k, v in counts.items()}


# --- hidden-word guessing -----------------------------------------------------------------------


class WordGuesser:
    """Ranks the public word list for a gate from per-position letter distributions.

    A position with a distribution scores ``p(letter)`` (floored at ``miss``, since solvers err); a
    position without one scores by how often the letter starts a clue of the public generators
    (``prior``), which is what a composer that needs one clue per letter favours.
    """

    def __init__(self, words: Iterable[str], prior: Dist | None = None, miss: float = 0.01) -> None:
        self.by_length: dict[int, list[str]] = {}
        for w in words:
            self.by_length.setdefault(len(w), []).append(w)
        self.prior = prior or {}
        self.miss = miss
        self._arrays: dict[int, np.ndarray] = {}

    def array(self, length: int) -> np.ndarray:
        if length not in self._arrays:
            words = self.by_length.get(length, [])
            self._arrays[length] = np.array(
                [[ord(ch) - 97 for ch in w] for w in words], dtype=np.int64
            ).reshape(len(words), length)
        return self._arrays[length]

    def ranked(self, dists: Sequence[Dist | None], k: int = 5) -> list[tuple[str, float]]:
        length = len(dists)
        words = self.by_length.get(length, [])
        if not words:
            return []
        arr = self.array(length)
        score = np.zeros(len(words))
        prior = np.array([self.prior.get(ch, 1e-3) for ch in LETTERS]) if self.prior else None
        for i, dist in enumerate(dists):
            if dist:
                table = np.full(26, math.log(self.miss))
                for letter, p in dist.items():
                    if "a" <= letter <= "z":
                        table[ord(letter) - 97] = math.log(max(p, self.miss))
            elif prior is not None:
                table = np.log(prior / prior.sum())
            else:
                continue
            score += table[arr[:, i]]
        top = np.argsort(-score, kind="stable")[:k]
        return [(words[j], float(score[j])) for j in top]

    def guesses(self, gates: Sequence[Sequence[Dist | None]], k: int = 5) -> list[list[str]]:
        """Up to ``k`` joint answers (one word per gate), best total score first."""
        per_gate = [self.ranked(g, k) for g in gates]
        if any(not ranked for ranked in per_gate):
            return []
        # k-best combinations: best-first search over rank vectors
        start = (0,) * len(per_gate)

        def total(ranks: tuple[int, ...]) -> float:
            return sum(per_gate[g][r][1] for g, r in enumerate(ranks))

        heap = [(-total(start), start)]
        seen = {start}
        out: list[list[str]] = []
        while heap and len(out) < k:
            _, ranks = heapq.heappop(heap)
            out.append([per_gate[g][r][0] for g, r in enumerate(ranks)])
            for g in range(len(ranks)):
                nxt = (*ranks[:g], ranks[g] + 1, *ranks[g + 1 :])
                if nxt[g] < len(per_gate[g]) and nxt not in seen:
                    seen.add(nxt)
                    heapq.heappush(heap, (-total(nxt), nxt))
        return out


def initial_prior(answers: Iterable[str] | None = None) -> Dist:
    """How often each letter starts a clue answer of the public generators (``answers``, else the
    small built-in set; uniform if they fail): a composer that needs one clue per letter favours
    words whose letters have many clues, the more so as a bank with a serve limit drains."""
    counts: Counter[str] = Counter()
    try:
        if answers is None:
            from puzzles.knowledge import builtin_clues

            answers = (d.answer for d in builtin_clues())
        counts = Counter(initial_of(a) for a in answers)
    except Exception:
        counts = Counter()
    counts.pop("", None)
    total = sum(counts.values()) or 1
    return {ch: (counts.get(ch, 0) + 1) / (total + 26) for ch in LETTERS}


class FrequencyGuesser:
    """Reads no clue: every position gets the prior, so guesses rank words by letter supply."""

    name = "frequency"

    def solve(self, domain: str, text: str) -> Dist | None:
        return None


# --- knowledge-free cryptogram ------------------------------------------------------------------


class Cryptogram:
    """Each distinct clue text is an unknown letter; harvested gates must spell list words.

    Loopy belief propagation on the factor graph (variables: clue texts; factors: gates, whose
    table is the word list of that length): a gate's message to one of its texts is the letter
    distribution at that position over the words consistent with the gate's other texts' current
    beliefs.  Damped, a fixed number of rounds; vectorised with numpy per word length.
    """

    name = "cryptogram"

    def __init__(self, guesser: WordGuesser, rounds: int = 8, damping: float = 0.5) -> None:
        self.guesser = guesser
        self.rounds = rounds
        self.damping = damping
        self.gates: list[list[str]] = []  # gates as lists of clue keys
        self.index: dict[str, int] = {}
        self.belief = np.zeros((0, 26))

    def harvest(self, gate_texts: Iterable[Sequence[str]]) -> None:
        for texts in gate_texts:
            self.gates.append([normalise_clue(t) for t in texts])

    def fit(self) -> None:
        keys = sorted({k for g in self.gates for k in g})
        self.index = {k: i for i, k in enumerate(keys)}
        prior = np.full(26, 1 / 26)
        log_prior = np.log(prior)
        belief = np.tile(prior, (len(keys), 1))
        by_len: dict[int, np.ndarray] = {}
        for g in self.gates:
            if self.guesser.by_length.get(len(g)):
                by_len.setdefault(len(g), []).append([self.index[k] for k in g])  # type: ignore[attr-defined]
        groups = {n: np.array(v, dtype=np.int64) for n, v in by_len.items()}
        onehots = {n: np.eye(26)[self.guesser.array(n)] for n in groups}  # m x n x 26
        for _ in range(self.rounds):
            log_msgs = np.zeros_like(belief)
            for n, vars_ in groups.items():
                words = self.guesser.array(n)  # m x n
                oh = onehots[n]
                log_b = np.log(np.clip(belief, 1e-9, None))
                for start in range(0, len(vars_), 2048):
                    chunk = vars_[start : start + 2048]  # G x n
                    per_pos = np.stack(
                        [log_b[chunk[:, i]][:, words[:, i]] for i in range(n)], axis=2
                    )  # G x m x n
                    total = per_pos.sum(axis=2)
                    for i in range(n):
                        excl = total - per_pos[:, :, i]
                        excl -= excl.max(axis=1, keepdims=True)
                        weight = np.exp(excl)
                        msg = weight @ oh[:, i, :]  # G x 26
                        msg /= msg.sum(axis=1, keepdims=True)
                        np.add.at(log_msgs, chunk[:, i], np.log(np.clip(msg, 1e-6, None)))
            new = log_prior + log_msgs
            new -= new.max(axis=1, keepdims=True)
            new = np.exp(new)
            new /= new.sum(axis=1, keepdims=True)
            belief = self.damping * belief + (1 - self.damping) * new
        self.belief = belief

    def solve(self, domain: str, text: str) -> Dist | None:
        i = self.index.get(normalise_clue(text))
        if i is None:
            return None
        row = self.belief[i]
        return {LETTERS[j]: float(row[j]) for j in np.argsort(-row)[:6]}


def top_letter(dist: Dist | None) -> str:
    return max(dist.items(), key=lambda kv: kv[1])[0] if dist else ""


__all__ = [
    "Cryptogram",
    "FrequencyGuesser",
    "Learner",
    "Reading",
    "ReplaySolver",
    "TemplateSolver",
    "WordGuesser",
    "initial_prior",
    "normalise_clue",
    "top_letter",
]
