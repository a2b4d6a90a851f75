"""Generation targets and one generation attempt.

A ``Target`` is what the model is asked for: a domain, the letter the answer must start with, a
tier, and in grounded mode the answer itself and true facts about it.

- **Grounded** targets come from ``puzzles.knowledge.facts`` (the built-in data) or from a file the
  operator supplies (JSONL or CSV with ``domain, answer, facts[, tier, relation]``).  The model
  only phrases the clue; the answer is known to be right, so verification tests the phrasing.
- **Free** targets give domain, letter and tier; the model proposes answer and clue, and only the
  solver(s) stand between a model's mistake and the bank.
- **Phrasing** targets are grounded targets whose relation is ``phrasing:<fact relation>``: the
  job asks for several distinct clues per fact (``jobs.run_phrase_job``), showing the model the
  texts the bank already has for the answer so that each new one is worded differently.

Target lists are deterministic for a seed, so a job's items can be recreated and compared.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
import string
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from gate.errors import GateError
from gate.puzzle import TIERS
from puzzles.draft import ClueDraft
from puzzles.factory import ChatPool, Usage
from puzzles.factory.parse import (
    INVALID,
    LEAKED,
    LLM_ERROR,
    ParseError,
    parse_candidate,
    screen,
)
from puzzles.factory.prompts import GENERATE_SCHEMA, generation_messages
from puzzles.knowledge.facts import Fact, fact_triples
from puzzles.validate import answer_initial, validate_clue

GROUNDED: Final = "grounded"
FREE: Final = "free"
FREE_DOMAINS: Final = (
    "Geography",
    "Chemistry",
    "Physics",
    "Biology",
    "Astronomy",
    "History",
    "Mathematics",
    "Computer science",
    "Music",
    "Literature",
    "Art",
    "Sports",
    "Economics",
    "Linguistics",
)
# x, q and z answers are rare and models miss the letter often; ask for them explicitly (--letters).
FREE_LETTERS: Final = "".join(ch for ch in string.ascii_lowercase if ch not in "xqz")
# Relation prefix of model-written phrasings of a grounded fact ("phrasing:capital"): stats and
# the red-team bench tell them from the one-clue-per-fact output of a plain grounded job.
PHRASING_PREFIX: Final = "phrasing:"


@dataclass(frozen=True, slots=True)
class Target:
    domain: str
    letter: str
    tier: int
    answer: str | None = None  # set in grounded mode
    facts: str = ""
    relation: str = ""

    @property
    def mode(self) -> str:
        return GROUNDED if self.answer else FREE

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "letter": self.letter,
            "tier": self.tier,
            "answer": self.answer,
            "facts": self.facts,
            "relation": self.relation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        return cls(
            domain=str(data["domain"]),
            letter=str(data["letter"]),
            tier=int(data["tier"]),
            answer=data.get("answer") or None,
            facts=str(data.get("facts") or ""),
            relation=str(data.get("relation") or ""),
        )

    def __repr__(self) -> str:  # answers stay out of logs
        return f"Target(domain={self.domain!r}, mode={self.mode}, tier={self.tier})"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One generation attempt: a screened draft, or the reason there is none."""

    draft: ClueDraft | None
    reason: str | None
    usage: Usage
    model: str
    text: str = ""  # the clue text, or the raw reply when malformed (for review of rejections)
    detail: str = ""  # the validator's own message when it refused the clue (reason "invalid"...)


def load_facts(path: Path) -> list[Fact]:
    """Operator-supplied facts: JSONL objects or CSV rows with domain, answer, facts[, tier]."""
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            rows: list[dict[str, Any]] = list(csv.DictReader(handle))
    else:
        with path.open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    facts: list[Fact] = []
    for number, row in enumerate(rows, start=1):
        try:
            facts.append(
                Fact(
                    domain=str(row["domain"]).strip(),
                    answer=str(row["answer"]).strip(),
                    facts=str(row["facts"]).strip(),
                    tier=int(row.get("tier") or 2),
                    relation=str(row.get("relation") or "operator"),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: row {number}: needs domain, answer, facts ({exc})") from exc
    return facts


def grounded_targets(
    count: int,
    *,
    seed: int = 0,
    facts: Sequence[Fact] | None = None,
    domains: Iterable[str] = (),
    tiers: Iterable[int] = (),
    exclude: Collection[str] = (),
) -> list[Target]:
    """``count`` targets drawn without repeats from ``facts`` (default: the built-in ones).

    ``exclude`` holds normalised answers to skip (those the bank already has LLM clues for).
    """
    from gate.answers import normalize_answer

    wanted_domains = {d.casefold() for d in domains}
    wanted_tiers = set(tiers)
    pool = [
        f
        for f in (fact_triples() if facts is None else facts)
        if answer_initial(f.answer)
        and normalize_answer(f.answer) not in exclude
        and (not wanted_domains or f.domain.casefold() in wanted_domains)
        and (not wanted_tiers or f.tier in wanted_tiers)
    ]
    random.Random(seed).shuffle(pool)
    return [
        Target(f.domain, answer_initial(f.answer), f.tier, f.answer, f.facts, f.relation)
        for f in pool[:count]
    ]


def phrasing_target(target: Target) -> Target:
    """``target`` (grounded) as a phrasing target: same fact, relation ``phrasing:<relation>``."""
    if target.answer is None:
        raise ValueError("phrasings need a grounded target (an answer and facts)")
    if target.relation.startswith(PHRASING_PREFIX):
        return target
    return replace(target, relation=f"{PHRASING_PREFIX}{target.relation or 'fact'}")


def free_targets(
    count: int,
    *,
    seed: int = 0,
    domains: Sequence[str] = FREE_DOMAINS,
    tiers: Sequence[int] = TIERS,
    letters: str = FREE_LETTERS,
) -> list[Target]:
    """``count`` (domain, letter, tier) targets, spread evenly and shuffled for a seed."""
    combos = list(itertools.product(domains, letters.lower(), tiers))
    random.Random(seed).shuffle(combos)
    cycle = itertools.islice(itertools.cycle(combos), count)
    return [Target(domain, letter, tier, relation="free") for domain, letter, tier in cycle]


async def generate_candidate(
    pool: ChatPool,
    target: Target,
    *,
    tags: Any,
    seen_keys: set[str],
    source_prefix: str = "llm",
    max_tokens: int = 200,
    temperature: float = 0.7,
    extra_unsafe: Iterable[str] = (),
    avoid: Sequence[str] = (),
) -> Candidate:
    """Ask the model for one clue for ``target`` and screen it.

    ``avoid`` holds clue texts the new one must differ from (shown to the model; exact repeats
    are caught by the duplicate check anyway).  A passing candidate's text key is added to
    ``seen_keys`` at once, before verification, so two concurrent attempts cannot both get the
    same text past the duplicate check.
    """
    from puzzles.bank import text_key

    messages = generation_messages(
        domain=target.domain,
        letter=target.letter,
        tier=target.tier,
        answer=target.answer,
        facts=target.facts,
        avoid=avoid,
    )
    try:
        completion = await pool.chat(
            messages,
            tags=tags,
            max_tokens=max_tokens,
            temperature=temperature,
            json_schema=GENERATE_SCHEMA,
        )
    except GateError:
        return Candidate(None, LLM_ERROR, Usage(), "")
    usage = Usage.of(completion)
    try:
        answer, text = parse_candidate(completion.text)
    except ParseError as exc:
        # The raw reply (cut short) is kept for review: it shows how the model broke the format.
        return Candidate(None, exc.reason, usage, completion.model, completion.text[:300])
    draft = ClueDraft(
        domain=target.domain,
        text=text,
        answer=target.answer or answer,  # grounded: keep the data's spelling of the answer
        tier=target.tier,
        source=f"{source_prefix}:{completion.model}",
        relation=target.relation,
    )
    checked = ClueDraft(draft.domain, draft.text, answer, draft.tier, draft.source, draft.relation)
    reason = screen(
        checked,
        letter=target.letter,
        expected_answer=target.answer,
        seen_keys=seen_keys,
        extra_unsafe=extra_unsafe,
    )
    if reason is not None:
        # The reason code is coarse ("invalid"); the validator's message says which rule.
        detail = (validate_clue(checked) or "") if reason in (LEAKED, INVALID) else ""
        return Candidate(None, reason, usage, completion.model, text, detail)
    seen_keys.add(text_key(text))
    return Candidate(draft, None, usage, completion.model, text)
