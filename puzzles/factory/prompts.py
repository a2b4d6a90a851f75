"""Prompts and JSON schemas of the factory's model calls.

Every prompt is laid out for prefix caching: the system message (shared instructions) and the
few-shot examples are byte-identical for every call of a kind and come first; the variable part
(the target or the clue to solve) is the last user message.  The pool routes prompts that share a
prefix to the same backend, whose prefix cache then skips recomputing everything but the tail.
Do not interpolate anything per call into ``*_SYSTEM`` or the examples.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from puzzles.validate import MAX_TEXT, MIN_TEXT

Message = dict[str, str]

# -- generation ----------------------------------------------------------------------------------

GENERATE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "minLength": 2, "maxLength": 60},
        "clue": {"type": "string", "minLength": MIN_TEXT, "maxLength": MAX_TEXT},
    },
    "required": ["answer", "clue"],
    "additionalProperties": False,
}

GENERATE_SYSTEM: Final = f"""You write clues for an acrostic word puzzle.
Each clue is one question in a knowledge domain with exactly one short, well-known answer.
Rules:
- Reply with one JSON object and nothing else: {{"answer": "...", "clue": "..."}}.
- The answer must start with the required letter and be the usual English name of the thing.
- The clue must NOT contain the answer, any word of it, or any word starting like it.
- The clue is one sentence of {MIN_TEXT} to {MAX_TEXT} characters, ending with a question mark.
- When facts are given, use only those facts; combine two of them when you can (for example, name
  a country through its capital, then ask about the country's neighbour), so that answering needs
  more than one step of reasoning.
- The question must be answerable by a well-read person and have only one correct answer.
- Keep it neutral and safe: no violence, sex, slurs, politics of the day or living private persons."""

_GENERATE_EXAMPLES: Final[tuple[tuple[str, dict[str, str]], ...]] = (
    (
        "Domain: Geography\nLetter: H\nTier: 2\nAnswer: Helsinki\nFacts:\n"
        "- It is the capital city of Finland.\n- Finland's internet domain is .fi.",
        {
            "answer": "Helsinki",
            "clue": "Which city is the capital of the country whose internet domain is .fi?",
        },
    ),
    (
        "Domain: Chemistry\nLetter: N\nTier: 1\nAnswer: (you choose)",
        {"answer": "Neon", "clue": "Which noble gas glows red-orange in advertising signs?"},
    ),
    (
        "Domain: Astronomy\nLetter: T\nTier: 3\nAnswer: Titan\nFacts:\n"
        "- It is a natural satellite (moon) of Saturn.\n- Saturn is the 6th planet from the Sun.\n"
        "- It is the 1st-largest moon of Saturn.",
        {"answer": "Titan", "clue": "What is the largest moon of the sixth planet from the Sun?"},
    ),
)


# Texts shown as "already written" (the newest ones): enough to steer the wording away from them,
# few enough that the prompt of a fact's last phrasing stays short.
AVOID_SHOWN: Final = 6


def _target_message(
    domain: str, letter: str, tier: int, answer: str | None, facts: str, avoid: Sequence[str]
) -> str:
    lines = [f"Domain: {domain}", f"Letter: {letter.upper()}", f"Tier: {tier}"]
    lines.append(f"Answer: {answer}" if answer else "Answer: (you choose)")
    if facts.strip():
        lines += ["Facts:", facts.strip()]
    shown = list(dict.fromkeys(text.strip() for text in avoid if text.strip()))[-AVOID_SHOWN:]
    if shown:
        # After the facts, so the shared prefix (system and examples) is untouched.
        lines.append("Already written (write a new clue worded differently from each of these):")
        lines += [f"- {text}" for text in shown]
    return "\n".join(lines)


def generation_messages(
    *,
    domain: str,
    letter: str,
    tier: int,
    answer: str | None = None,
    facts: str = "",
    avoid: Sequence[str] = (),
) -> list[Message]:
    """Messages asking for one clue: shared prefix, then the target (grounded when ``answer``);
    ``avoid`` lists clue texts of the same answer that the new one must not repeat or reword."""
    messages: list[Message] = [{"role": "system", "content": GENERATE_SYSTEM}]
    for user, reply in _GENERATE_EXAMPLES:
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": json.dumps(reply)})
    content = _target_message(domain, letter, tier, answer, facts, avoid)
    messages.append({"role": "user", "content": content})
    return messages


# -- solving (verification and calibration) ------------------------------------------------------

SOLVE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "maxLength": 80}},
    "required": ["answer"],
    "additionalProperties": False,
}
# Calibration wants the tokens a solver really spends, so its reference solvers think first.
SOLVE_REASONING_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "answer": {"type": "string", "maxLength": 80},
    },
    "required": ["reasoning", "answer"],
    "additionalProperties": False,
}

SOLVE_SYSTEM: Final = """You answer quiz questions.
Reply with one JSON object and nothing else: {"answer": "..."}.
The answer is the short usual English name (one to three words), without explanation."""

SOLVE_REASONING_SYSTEM: Final = """You answer quiz questions.
Think step by step, briefly, then reply with one JSON object and nothing else:
{"reasoning": "...", "answer": "..."}.
The answer is the short usual English name (one to three words)."""

_SOLVE_EXAMPLES: Final[tuple[tuple[str, str, str], ...]] = (
    (
        "Geography",
        "Which city is the capital of the country whose internet domain is .fi?",
        "Helsinki",
    ),
    ("Chemistry", "Which noble gas glows red-orange in advertising signs?", "Neon"),
)
_SOLVE_REASONING: Final = {
    "Helsinki": ".fi is Finland; the capital of Finland is Helsinki.",
    "Neon": "Red-orange glowing signs are neon signs; neon is a noble gas.",
}


def solve_messages(*, domain: str, text: str, reasoning: bool = False) -> list[Message]:
    """Messages asking a solver for the answer of a clue; the answer is never in them."""
    system = SOLVE_REASONING_SYSTEM if reasoning else SOLVE_SYSTEM
    messages: list[Message] = [{"role": "system", "content": system}]
    for ex_domain, ex_text, ex_answer in _SOLVE_EXAMPLES:
        reply: dict[str, str] = {"answer": ex_answer}
        if reasoning:
            reply = {"reasoning": _SOLVE_REASONING[ex_answer], "answer": ex_answer}
        messages.append({"role": "user", "content": f"[{ex_domain}] {ex_text}"})
        messages.append({"role": "assistant", "content": json.dumps(reply)})
    messages.append({"role": "user", "content": f"[{domain}] {text}"})
    return messages
