"""Build ``puzzles/data/words.txt``, the list of hidden words W (developer tool, not runtime).

Run once, offline, by a developer, and commit the result::

    pip install wordfreq                      # build-time only; never a runtime dependency
    apt-get install wamerican                 # /usr/share/dict/words, for the proper-noun filter
    python -m puzzles.knowledge.build_words   # rewrites puzzles/data/words.txt

A word is kept when it is among the most frequent English words (``wordfreq``), has 4-12 letters
a-z, appears *in lower case* in the system dictionary (this drops names, places, brands and
abbreviations, which the dictionary lists capitalised or not at all), and is not blocked as
offensive, sexual, violent, drug-related or a slur.  The first ``--limit`` survivors in frequency
order are written, one per line, sorted alphabetically.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "words.txt"
DEFAULT_DICT = Path("/usr/share/dict/words")
_SHAPE = re.compile(r"[a-z]{4,12}")

# Exact words that must never be a hidden word (the shape filter already drops anything shorter
# than four letters, so three-letter words need not be listed).
BLOCKED_WORDS = frozenset(
    [
        "abuse",
        "abused",
        "abuser",
        "abusers",
        "abuses",
        "abusive",
        "anal",
        "anus",
        "arse",
        "arses",
        "arsehole",
        "asshole",
        "assholes",
        "assault",
        "assaulted",
        "assaults",
        "bastard",
        "bastards",
        "beheaded",
        "beheading",
        "bitch",
        "bitches",
        "bloody",
        "bollocks",
        "bomb",
        "bombed",
        "bomber",
        "bombers",
        "bombing",
        "bombings",
        "bombs",
        "boner",
        "boob",
        "boobs",
        "booty",
        "breast",
        "breasts",
        "bugger",
        "butt",
        "butts",
        "cocaine",
        "cock",
        "cocks",
        "condom",
        "condoms",
        "corpse",
        "corpses",
        "crap",
        "crappy",
        "damn",
        "damned",
        "dead",
        "deadly",
        "death",
        "deaths",
        "dick",
        "dicks",
        "dildo",
        "dumb",
        "dying",
        "erection",
        "erotic",
        "execution",
        "executions",
        "faggot",
        "fuck",
        "fucked",
        "fucking",
        "genocide",
        "gonorrhea",
        "gunman",
        "gunmen",
        "gunfire",
        "guns",
        "hell",
        "heroin",
        "hitler",
        "hooker",
        "hookers",
        "horny",
        "hostage",
        "hostages",
        "idiot",
        "idiots",
        "incest",
        "kill",
        "killed",
        "killer",
        "killers",
        "killing",
        "killings",
        "kills",
        "kinky",
        "lesbian",
        "lesbians",
        "loser",
        "losers",
        "lust",
        "lynch",
        "lynching",
        "massacre",
        "meth",
        "moron",
        "morons",
        "murder",
        "murdered",
        "murderer",
        "murders",
        "naked",
        "nazi",
        "nazis",
        "negro",
        "nigga",
        "nipple",
        "nipples",
        "nude",
        "nudes",
        "nudity",
        "opium",
        "orgasm",
        "orgy",
        "overdose",
        "pedophile",
        "penis",
        "piss",
        "pissed",
        "poop",
        "porn",
        "porno",
        "prick",
        "prostitute",
        "prostitutes",
        "prostitution",
        "pussy",
        "racist",
        "racists",
        "rape",
        "raped",
        "rapes",
        "rapist",
        "rapists",
        "retard",
        "retarded",
        "rifle",
        "rifles",
        "scum",
        "semen",
        "sexual",
        "sexually",
        "sexy",
        "shit",
        "shits",
        "shitty",
        "shoot",
        "shooter",
        "shooters",
        "shooting",
        "shootings",
        "slave",
        "slavery",
        "slaves",
        "slut",
        "sluts",
        "sperm",
        "stab",
        "stabbed",
        "stabbing",
        "strangled",
        "stripper",
        "strippers",
        "stupid",
        "suicidal",
        "suicide",
        "terror",
        "terrorism",
        "terrorist",
        "terrorists",
        "testicle",
        "torture",
        "tortured",
        "twat",
        "vagina",
        "viagra",
        "victim",
        "victims",
        "wank",
        "wanker",
        "weapon",
        "weapons",
        "whore",
        "whores",
    ]
)
# Names, brands, places and politically or religiously loaded words that the dictionary also
# lists in lower case (a "john", to "google"), plus a few more sensitive words.
BLOCKED_NAMES = frozenset(
    [
        "aids",
        "amazon",
        "android",
        "bible",
        "billy",
        "blacks",
        "bobby",
        "brad",
        "buddy",
        "bush",
        "catholic",
        "chile",
        "china",
        "chuck",
        "coke",
        "communist",
        "democrat",
        "democratic",
        "democrats",
        "republican",
        "republicans",
        "drew",
        "french",
        "google",
        "intel",
        "jack",
        "japan",
        "jersey",
        "jimmy",
        "john",
        "josh",
        "khan",
        "kitty",
        "maria",
        "matt",
        "mike",
        "nick",
        "peter",
        "polish",
        "rick",
        "roger",
        "rogers",
        "shanghai",
        "soviet",
        "superman",
        "terry",
        "thanksgiving",
        "tony",
        "trump",
        "twitter",
        "wales",
        "welsh",
        "whites",
        "oxford",
        "guinea",
        "gospel",
        "islam",
        "islamic",
        "muslim",
        "muslims",
        "jewish",
        "christian",
        "christians",
        "cancer",
        "drug",
        "drugs",
        "hate",
        "hatred",
        "racism",
        "tits",
        "weed",
        "knife",
        "knives",
        "abortion",
        "crack",
    ]
)
# Prefixes that block every word starting with them (inflections and compounds).
BLOCKED_PREFIXES = (
    "fuck",
    "shit",
    "porn",
    "masturb",
    "pedophil",
    "paedophil",
    "nigg",
    "fagg",
    "cunt",
    "rapist",
    "slut",
    "whor",
    "sodom",
    "molest",
    "bestial",
    "decapit",
    "genocid",
    "jihad",
    "terroris",
    "suicid",
    "murder",
    "slaughter",
    "massacr",
    "tortur",
    "sexual",
    "sexi",
    "sexy",
    "erotic",
    "orgasm",
    "genital",
    "pubic",
    "semen",
    "ejacul",
    "intercourse",
    "prostitut",
)


def is_blocked(word: str) -> bool:
    return word in BLOCKED_WORDS or word in BLOCKED_NAMES or word.startswith(BLOCKED_PREFIXES)


def lowercase_dictionary(path: Path) -> frozenset[str]:
    """Words the dictionary lists in lower case: common nouns, verbs, adjectives..."""
    with path.open(encoding="utf-8", errors="ignore") as handle:
        return frozenset(line.strip() for line in handle if line.strip().islower())


def select(candidates: Iterable[str], dictionary: frozenset[str], limit: int) -> list[str]:
    """Frequency-ordered ``candidates`` -> the first ``limit`` acceptable words, sorted."""
    chosen: list[str] = []
    seen: set[str] = set()
    for word in candidates:
        if word in seen or not _SHAPE.fullmatch(word) or word not in dictionary:
            continue
        if is_blocked(word):
            continue
        seen.add(word)
        chosen.append(word)
        if len(chosen) >= limit:
            break
    return sorted(chosen)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=30_000, help="wordfreq words to consider")
    parser.add_argument("--limit", type=int, default=6_000, help="words to keep")
    parser.add_argument("--dict", type=Path, default=DEFAULT_DICT, help="system word list")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    from wordfreq import top_n_list  # build-time only

    words = select(top_n_list("en", args.top), lowercase_dictionary(args.dict), args.limit)
    header = "# Hidden words for acrostic puzzles; generated by puzzles/knowledge/build_words.py\n"
    args.out.write_text(header + "\n".join(words) + "\n", encoding="utf-8")
    print(f"wrote {len(words)} words to {args.out}")


if __name__ == "__main__":
    main()
