"""Languages: names from ISO 639 codes (``pycountry``) and the main language of a country
(``countryinfo``), directly and through a capital city (multi-hop).

A code clue is kept only when the code does not start with the answer's letter ("de" -> German,
"eu" -> Basque): "en" -> English would hand the solver the initial.  Country -> language clues
use only countries that list exactly one language, and ask for the *main* official language, which
stays true where minority languages are co-official.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from puzzles.draft import ClueDraft
from puzzles.knowledge._common import choose, long_enough, make, same_initial, shares_prefix
from puzzles.knowledge.countries import (
    calling_index,
    capital_index,
    countries,
    prominence,
    sentence,
)

SOURCE = "builtin:languages"
DOMAIN = "Linguistics"
# Languages with a second common English name of another initial (Persian/Farsi,
# Chinese/Mandarin, Malay/Bahasa, Divehi/Maldivian, Ganda/Luganda) or an ISO name that is not what
# people say ("Kirghiz", "Pushto", "Bokmål").  Multi-word names ("Scottish Gaelic", "Northern Sami") are skipped too: people
# often drop the qualifier, which changes the initial.
_AMBIGUOUS = frozenset(
    {"fa", "zh", "ms", "dv", "nb", "nn", "ky", "ps", "ii", "cu", "li", "ny", "lg", "sh"}
)
# Countries whose single listed language is misleading: the Philippines and Malaysia (data lists
# only English or nothing), East Timor (Tetum), Pacific states with co-official local languages,
# and Mali and Niger, which demoted French after 2023.
_SKIP_COUNTRIES = frozenset({"PH", "MY", "TL", "KI", "PW", "TV", "MU", "ML", "NE"})


@functools.cache
def language_names() -> dict[str, str]:
    """ISO 639-1 code -> plain English name, skipping names with qualifiers or commas."""
    import pycountry

    names: dict[str, str] = {}
    for lang in pycountry.languages:
        code = getattr(lang, "alpha_2", None)
        if not code or code in _AMBIGUOUS:
            continue
        name = lang.name.removesuffix(" (macrolanguage)")
        if any(ch in name for ch in "(),; "):
            continue
        names[code] = name
    return names


@functools.cache
def _alpha3() -> dict[str, str]:
    import pycountry

    return {
        lang.alpha_2: lang.alpha_3
        for lang in pycountry.languages
        if getattr(lang, "alpha_2", None) in language_names()
    }


@functools.cache
def _widely_used() -> frozenset[str]:
    """Codes listed for at least one country: these are the languages people have heard of."""
    return frozenset(code for c in countries() for code in c.languages)


@functools.cache
def main_languages() -> dict[str, str]:
    """alpha-2 country code -> language name, for countries listing exactly one known language."""
    names = language_names()
    return {
        c.alpha2: names[c.languages[0]]
        for c in countries()
        if len(c.languages) == 1 and c.languages[0] in names and c.alpha2 not in _SKIP_COUNTRIES
    }


def _by_code() -> Iterator[ClueDraft]:
    two = (
        "Which language has the ISO 639-1 code '{k}'?",
        "The two-letter language code '{k}' (ISO 639-1) stands for which language?",
    )
    three = (
        "Which language has the ISO 639-3 code '{k}'?",
        "The three-letter language code '{k}' (ISO 639-3) stands for which language?",
    )
    for code, name in sorted(language_names().items()):
        tier = 2 if code in _widely_used() else 3
        for key, templates, relation, t in (
            (code, two, "language_of_iso639_1", tier),
            (_alpha3().get(code, ""), three, "language_of_iso639_3", 3),
        ):
            if not key or same_initial(key, name) or not long_enough(name):
                continue
            yield make(
                domain=DOMAIN,
                text=choose(templates, key).format(k=key),
                answer=name,
                tier=t,
                source=SOURCE,
                relation=relation,
            )


def _of_country() -> Iterator[ClueDraft]:
    templates = (
        "What is the main language used officially in {c}?",
        "Which language do most official documents in {c} use as their main language?",
        "Name the principal language of government and schooling in {c}.",
    )
    lookup = {c.alpha2: c for c in countries()}
    for a2, lang in sorted(main_languages().items()):
        c = lookup[a2]
        if same_initial(c.name, lang) or shares_prefix(c.name, lang):
            continue
        yield make(
            domain=DOMAIN,
            text=sentence(choose(templates, a2).format(c=c.phrase)),
            answer=lang,
            tier=prominence(c),
            source=SOURCE,
            relation="main_language_of_country",
        )


def _via_capital() -> Iterator[ClueDraft]:
    templates = (
        "What is the main language used officially in the country whose capital is {cap}?",
        "Name the principal language of the country that has {cap} as its capital.",
    )
    langs = main_languages()
    for cap, c in sorted(capital_index().items(), key=lambda kv: kv[1].alpha2):
        lang = langs.get(c.alpha2)
        if lang is None or shares_prefix(cap, lang):
            continue
        yield make(
            domain=DOMAIN,
            text=choose(templates, cap).format(cap=cap),
            answer=lang,
            tier=3,
            source=SOURCE,
            relation="main_language_of_country_by_capital",
        )


def _via_calling_code() -> Iterator[ClueDraft]:
    templates = (
        "What is the main language used officially in the country with calling code +{k}?",
        "Name the principal language of the country you reach by dialling +{k}.",
    )
    langs = main_languages()
    for code, c in sorted(calling_index().items()):
        lang = langs.get(c.alpha2)
        if lang is None:
            continue
        yield make(
            domain=DOMAIN,
            text=choose(templates, code).format(k=code),
            answer=lang,
            tier=3,
            source=SOURCE,
            relation="main_language_of_country_by_calling_code",
        )


def clues() -> Iterator[ClueDraft]:
    yield from _by_code()
    yield from _of_country()
    yield from _via_capital()
    yield from _via_calling_code()
