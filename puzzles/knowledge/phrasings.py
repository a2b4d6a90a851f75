"""Wordings for the large bank: noun phrases for each relation and question frames around them.

The gate never serves one clue text twice, so a fact is worth as many clues as it has honest
wordings.  A clue text is a *frame* ("Name {np}.") around a *noun phrase* for the answer ("the
capital of {x}"), whose subject ``{x}`` is itself a noun phrase (a name, or a description such as
"the country whose internet domain is .fi").  Frames x noun phrases x descriptions multiply, which
is where the size comes from; every piece is written so any combination reads as a question.

Rules every wording keeps (the validator enforces some, the rest hold by construction): no wording
names a letter, a spelling or a length of the answer, and every currency wording asks for the bare
unit, because "Thai baht" and "baht" start with different letters.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from typing import TypeVar

_T = TypeVar("_T")

# Numbers as words, so "3 places after" and "three places after" are two wordings.
NUMBER_WORDS = [
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


def pick(options: Sequence[_T], key: str, k: int) -> tuple[_T, ...]:
    """``k`` consecutive options starting at a stable, key-dependent offset (crc32, not ``hash``,
    so the bank is identical on every run); all of them when ``k`` covers the sequence."""
    n = len(options)
    if k >= n:
        return tuple(options)
    start = zlib.crc32(key.encode("utf-8")) % n
    return tuple(options[(start + i) % n] for i in range(k))


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def frame(template: str, np: str) -> str:
    """Put ``np`` into a frame; ``{NP}`` is the noun phrase opening a sentence."""
    return sentence(template.format(np=np, NP=sentence(np)))


def possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def combine(
    nps: Sequence[str], frames: Sequence[str], key: str, n: int | None = None, **fill: str
) -> tuple[str, ...]:
    """Every frame around every noun phrase (filled with ``fill``), or ``n`` of them picked
    stably by ``key`` where the full product would flood the bank with one fact."""
    pairs = [(np, f) for np in nps for f in frames]
    chosen = pairs if n is None else pick(pairs, key, n)
    return tuple(frame(f, np.format(**fill)) for np, f in chosen)


# --- frames: the question around an answer's noun phrase, by the kind of answer ----------------------

CITY = (
    "What is {np}?",
    "Name {np}.",
    "Which city is {np}?",
    "Identify {np}.",
    "Give the name of {np}.",
    "{NP}: which city is it?",
    "Which city serves as {np}?",
)
# For noun phrases that already say what the answer is ("the country whose ...").
NAMED = (
    "Name {np}.",
    "Identify {np}.",
    "What is the name of {np}?",
    "Give the name of {np}.",
    "Which {kind} is meant here: {np}?",
)
LANGUAGE = (
    "What is {np}?",
    "Name {np}.",
    "Which language is {np}?",
    "Identify {np}.",
    "{NP}: which language is it?",
)
CURRENCY = (
    "What is {np}? Give the unit's name only.",
    "Name {np}, without any national adjective.",
    "{NP} is called what? Answer with the unit alone.",
    "Which unit of money is {np}? The bare unit name, please.",
    "Give the name of {np} (the unit alone, no country adjective).",
)
DEMONYM = (
    "What is {np}?",
    "Name {np}.",
    "Give {np}.",
)


@functools.cache
def named_frames(kind: str) -> tuple[str, ...]:
    return tuple(t.replace("{kind}", kind) for t in NAMED)


# --- noun phrases of an answer, given the subject {x} -------------------------------------------------

CAPITAL_OF = (
    "the capital of {x}",
    "the capital city of {x}",
    "the national capital of {x}",
)
# A state or province has a capital, not a national one.
SUBDIVISION_CAPITAL_OF = ("the capital of {x}", "the capital city of {x}")
CAPITAL_OF_NAMED = ("{xs} capital", "{xs} capital city")
CURRENCY_OF = (
    "the currency unit of {x}",
    "the basic unit of money in {x}",
    "the unit of currency used in {x}",
    "the monetary unit of {x}",
)
LANGUAGE_OF = (
    "the main official language of {x}",
    "the principal language of {x}",
    "the main language of government and schooling in {x}",
    "the chief language used officially in {x}",
)
DEMONYM_OF = (
    "the nationality word for people from {x}",
    "the adjective for citizens of {x}",
    "the demonym of {x}",
)

# --- descriptions of a country by one identifying key --------------------------------------------------

COUNTRY_BY = {
    "capital": (
        "the country whose capital is {k}",
        "the country with {k} as its capital",
        "the country whose capital city is {k}",
        "the nation that has {k} as its capital",
    ),
    "tld": (
        "the country whose internet domain is {k}",
        "the country with the top-level domain {k}",
        "the country whose websites end in {k}",
        "the country that uses the internet country code {k}",
    ),
    "iso2": (
        "the country with ISO 3166-1 alpha-2 code {k}",
        "the country whose two-letter ISO code is {k}",
        "the country coded {k} in ISO 3166-1 alpha-2",
    ),
    "iso3": (
        "the country with ISO 3166-1 alpha-3 code {k}",
        "the country whose three-letter ISO code is {k}",
        "the country coded {k} in ISO 3166-1 alpha-3",
    ),
    "calling": (
        "the country with international calling code +{k}",
        "the country you reach by dialling +{k}",
        "the country whose telephone country code is +{k}",
    ),
    "currency": (
        "the country whose currency is the {k}",
        "the country that uses the {k} as its money",
        "the country where the {k} is the national currency",
    ),
    "demonym": (
        "the country whose people are called {k}",
        "the country whose citizens are described as {k}",
    ),
    "sole_neighbour": (
        "the only country bordering {x}",
        "the sole land neighbour of {x}",
        "the one country that shares a land border with {x}",
    ),
    "other_neighbour": (
        "the neighbour of {x} other than {y}",
        "the country besides {y} that borders {x}",
        "the second land neighbour of {x}, apart from {y}",
    ),
    "common_neighbour": (
        "the country bordering both {x} and {y}",
        "the one country that shares land borders with both {x} and {y}",
        "the only country touching both {x} and {y}",
    ),
    "common_neighbour3": (
        "the country bordering {x}, {y} and {z}",
        "the one country with land borders on {x}, {y} and {z}",
    ),
}

# Direct questions from a key to the country, besides the descriptions in NAMED frames.
COUNTRY_QUESTIONS = {
    "capital": (
        "{k} is the capital of which country?",
        "Which country has {k} as its capital city?",
        "Of which country is {k} the capital?",
    ),
    "tld": (
        "Which country has the internet country-code domain {k}?",
        "Websites ending in {k} belong to which country?",
    ),
    "iso2": ("The two-letter ISO country code {k} stands for which country?",),
    "iso3": ("The three-letter ISO country code {k} stands for which country?",),
    "calling": (
        "Phone numbers starting with +{k} reach which country?",
        "The international dialling prefix +{k} belongs to which country?",
    ),
    "currency": (
        "The {k} is the national currency of which country?",
        "Which country's currency unit is the {k}?",
    ),
    "demonym": ("Which country's people are called {k}?",),
    "sole_neighbour": ("Which is the only country that shares a land border with {x}?",),
}

# --- chemical elements ---------------------------------------------------------------------------------

ELEMENT_BY = {
    "number": (
        "the element with atomic number {z}",
        "the element whose nucleus holds {z} protons",
        "the element at position {z} of the periodic table",
        "the element whose atoms each have {z} protons",
    ),
    "symbol": (
        "the element with the chemical symbol {s}",
        "the element whose symbol is {s}",
        "the element written {s} in chemical formulas",
    ),
    "cell": (
        "the element in period {p}, group {g} of the periodic table",
        "the element in group {g} and period {p} of the periodic table",
        "the periodic-table element at period {p}, group {g}",
    ),
    "family": (
        "the {f} in period {p} of the periodic table",
        "the {f} of the {pth} period",
    ),
    "after": (
        "the element right after {x} in the periodic table",
        "the element whose atomic number is one more than that of {x}",
        "the element that follows {x} in the periodic table",
    ),
    "before": (
        "the element right before {x} in the periodic table",
        "the element whose atomic number is one less than that of {x}",
        "the element that precedes {x} in the periodic table",
    ),
    "plus": (
        "the element whose atomic number is {k} more than that of {x}",
        "the element {k} places after {x} in the periodic table",
        "the element with {k} more protons than {x}",
        "the element whose atomic number is that of {x} plus {k}",
    ),
    "minus": (
        "the element whose atomic number is {k} less than that of {x}",
        "the element {k} places before {x} in the periodic table",
        "the element with {k} fewer protons than {x}",
        "the element whose atomic number is that of {x} minus {k}",
    ),
    "sum": (
        "the element whose atomic number is the sum of those of {x} and {y}",
        "the element whose atomic number equals that of {x} plus that of {y}",
        "the element with as many protons as {x} and {y} together",
    ),
    "difference": (
        "the element whose atomic number is that of {x} minus that of {y}",
        "the element whose atomic number is the difference between those of {x} and {y}",
        "the element with as many protons as {x} has more than {y}",
    ),
    "times": (
        "the element whose atomic number is {m} that of {x}",
        "the element with {n} as many protons as {x}",
    ),
    "fraction": (
        "the element whose atomic number is {m} that of {x}",
        "the element with {n} as many protons as {x}",
    ),
    "calling": (
        "the element whose atomic number equals the international calling code of {x}",
        "the element whose atomic number is the telephone country code of {x}",
    ),
    "planet": (
        "the element whose atomic number is the position, counting from the Sun, of {x}",
        "the element whose atomic number equals the place in order from the Sun of {x}",
    ),
}
# (word before "that of", word before "as many"), so both noun phrases read correctly.
MULTIPLES = {
    2: (("twice", "twice"), ("double", "two times")),
    3: (("three times", "three times"), ("triple", "thrice")),
}
FRACTIONS = {
    2: (("half", "half"), ("one half of", "one half")),
    3: (("a third of", "a third"), ("one third of", "one third")),
}

# --- subdivisions -----------------------------------------------------------------------------------

SUBDIVISION_BY = {
    "name": ("the {label} of {name}", "the {label} {name}"),
    "capital": (
        "the {label} whose capital is {k}",
        "the {label} with {k} as its capital",
        "the {label} governed from {k}",
    ),
    "code": (
        "the {label} with ISO 3166-2 code {k}",
        "the {label} coded {k} in ISO 3166-2",
    ),
}

# --- languages by code ----------------------------------------------------------------------------

LANGUAGE_BY = {
    "iso639_1": (
        "the language with ISO 639-1 code '{k}'",
        "the language coded '{k}' in ISO 639-1",
        "the language whose two-letter ISO 639-1 code is '{k}'",
    ),
    "iso639_3": (
        "the language with ISO 639-3 code '{k}'",
        "the language coded '{k}' in ISO 639-3",
        "the language whose three-letter ISO 639-3 code is '{k}'",
    ),
}

# --- planets ------------------------------------------------------------------------------------------

PLANET_BY = {
    "order": (
        "the {nth} planet from the Sun",
        "the planet that is {nth} in order from the Sun",
        "the {nth} planet counting outward from the Sun",
    ),
    "between": (
        "the planet whose orbit lies between those of {a} and {b}",
        "the planet orbiting between {a} and {b}",
    ),
    "moon": (
        "the planet that the moon {m} orbits",
        "the planet of which {m} is a natural satellite",
    ),
}
