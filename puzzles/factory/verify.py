"""Verification: solver models answer a candidate clue without seeing the answer.

A clue is accepted only when every configured solver answers it correctly.  With one solver that
proves it solvable; with two (different models, ideally of different families) their agreement on
the expected answer is the design's test of unambiguity: a clue two models read differently is
likely to have a second valid answer.  The outcome distinguishes ``unsolved`` (no solver found it)
from ``ambiguous`` (some did, some did not) because the two call for different fixes.

Comparison uses ``gate.answers.normalize_answer`` like the served check, plus one tolerance: a
leading English article ("the Netherlands").  Solvers may add it, the bank's answers never need it,
and it cannot change an initial the way a different name can.

``match=INITIAL`` accepts a solver whose answer merely starts with the expected answer's letter.
A served gate checks only the hidden word its initials spell, so such a clue still works in a gate;
it is the weaker test (it lets through clues with a second answer of the same initial), which is
why ``ANSWER`` is the default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from gate.answers import answers_match
from gate.errors import GateError
from puzzles.factory import ChatPool, Usage
from puzzles.factory.parse import AMBIGUOUS, LLM_ERROR, UNSOLVED, ParseError, parse_solution
from puzzles.factory.prompts import SOLVE_REASONING_SCHEMA, SOLVE_SCHEMA, solve_messages
from puzzles.validate import answer_initial

_ARTICLES = ("the ", "a ", "an ")
ANSWER: Final = "answer"  # the solver must give the answer (normalised)
INITIAL: Final = "initial"  # the solver's answer must start with the answer's letter
MATCHES: Final = (ANSWER, INITIAL)


@dataclass(frozen=True, slots=True)
class Solver:
    """One solver model reached through a pool (one pool per model, so the models differ)."""

    pool: ChatPool
    name: str  # shown in provenance, e.g. the model name


@dataclass(frozen=True, slots=True)
class Attempt:
    """One solver's try at a clue. ``answer`` is ``None`` when the reply was unusable."""

    solver: str
    model: str
    answer: str | None
    correct: bool
    usage: Usage
    error: str | None = None  # "malformed" or "llm_error" when ``answer`` is None

    def __repr__(self) -> str:  # the answer stays out of logs
        return f"Attempt(solver={self.solver!r}, correct={self.correct}, usage={self.usage})"


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    reason: str | None  # None when ok, else UNSOLVED / AMBIGUOUS / LLM_ERROR
    attempts: tuple[Attempt, ...]

    @property
    def usage(self) -> Usage:
        return sum((a.usage for a in self.attempts), Usage())

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.model for a in self.attempts))


def same_answer(submitted: str, expected: str) -> bool:
    """Normalised equality, also with a leading article removed from either side."""
    if answers_match(submitted, expected):
        return True
    return answers_match(_strip_article(submitted), _strip_article(expected))


def same_initial(submitted: str, expected: str) -> bool:
    """The submitted answer (or it without a leading article) starts with the expected letter."""
    letter = answer_initial(expected)
    return bool(letter) and letter in (
        answer_initial(submitted),
        answer_initial(_strip_article(submitted)),
    )


def _strip_article(text: str) -> str:
    lowered = text.strip().casefold()
    for article in _ARTICLES:
        if lowered.startswith(article):
            return text.strip()[len(article) :]
    return text


async def solve(
    solver: Solver,
    *,
    domain: str,
    text: str,
    expected: str,
    tags: Any,
    reasoning: bool = False,
    max_tokens: int = 64,
    temperature: float = 0.0,
    match: str = ANSWER,
) -> Attempt:
    """Ask ``solver`` for the answer of a clue and grade it (``match``: what counts as correct);
    pool errors become a failed attempt."""
    if match not in MATCHES:
        raise ValueError(f"match must be one of {MATCHES}, not {match!r}")
    try:
        completion = await solver.pool.chat(
            solve_messages(domain=domain, text=text, reasoning=reasoning),
            tags=tags,
            max_tokens=max_tokens,
            temperature=temperature,
            json_schema=SOLVE_REASONING_SCHEMA if reasoning else SOLVE_SCHEMA,
        )
    except GateError:
        # An unavailable or slow solver proves nothing about the clue; fail closed (not accepted).
        return Attempt(solver.name, solver.name, None, False, Usage(), LLM_ERROR)
    usage = Usage.of(completion)
    try:
        answer = parse_solution(completion.text)
    except ParseError as exc:
        return Attempt(solver.name, completion.model, None, False, usage, exc.reason)
    correct = same_answer(answer, expected) or (match == INITIAL and same_initial(answer, expected))
    return Attempt(solver.name, completion.model, answer, correct, usage)


def judge(attempts: Sequence[Attempt]) -> Verification:
    """Accept when every solver was correct; else say whether they disagreed or all failed."""
    if not attempts:
        raise ValueError("verification needs at least one solver")
    if all(a.correct for a in attempts):
        return Verification(True, None, tuple(attempts))
    if all(a.error == LLM_ERROR for a in attempts):
        return Verification(False, LLM_ERROR, tuple(attempts))
    reason = AMBIGUOUS if any(a.correct for a in attempts) else UNSOLVED
    return Verification(False, reason, tuple(attempts))


async def verify_clue(
    solvers: Sequence[Solver],
    *,
    domain: str,
    text: str,
    answer: str,
    tags: Any,
    max_tokens: int = 64,
    match: str = ANSWER,
) -> Verification:
    """Run every solver on the clue concurrently and judge the answers."""
    attempts = await asyncio.gather(
        *(
            solve(
                s,
                domain=domain,
                text=text,
                expected=answer,
                tags=tags,
                max_tokens=max_tokens,
                match=match,
            )
            for s in solvers
        )
    )
    return judge(attempts)
