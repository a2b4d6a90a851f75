"""The puzzle factory: LLM-written clues, verified and calibrated by solver models, in SQL jobs.

Pipeline (each step is its own module so it can be tested and replaced alone)::

    generate.targets  -> prompts.generation_messages -> pool.chat -> parse.parse_candidate
        -> parse.screen (initial, leak, length, duplicate, unsafe) -> verify.verify_clue
        -> jobs.run_generate_job (SQL job records, resumable) -> the clue bank
    calibrate.calibrate_clue: reference solvers' tokens and success rate -> tier, expected_tokens
    jobs.run_phrase_job: N distinct verified phrasings per grounded fact (relation phrasing:*)
    io: JSONL/CSV import/export of clues and gates
    phrasing_kind (here): template / model / imported, from a clue's source

The factory only needs something with the LLM pool's ``chat`` signature (``ChatPool`` below), so
tests script a fake pool at that seam and the CLI passes ``puzzles.llm.LLMPool``.  This module stays
free of imports from its submodules so that ``puzzles.factory.X`` can import it without cycles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

# How a clue's text was worded, read from its ``source`` (no column of its own: the source already
# says it).  ``template``: a built-in generator's fixed sentence forms, which a lookup solver can
# parse; ``model``: free language written by a model; ``imported``: anything brought in from a file.
TEMPLATE: Final = "template"
MODEL: Final = "model"
IMPORTED: Final = "imported"
PHRASING_KINDS: Final = (TEMPLATE, MODEL, IMPORTED)


def phrasing_kind(source: str) -> str:
    """``template`` for ``builtin:*`` sources, ``model`` for ``llm:*``, ``imported`` otherwise."""
    if source.startswith("builtin:"):
        return TEMPLATE
    if source.startswith("llm:"):
        return MODEL
    return IMPORTED


def phrasing_counts(by_source: Mapping[str, int]) -> dict[str, int]:
    """Clue counts by source folded into counts by phrasing kind (every kind present, maybe 0)."""
    counts = dict.fromkeys(PHRASING_KINDS, 0)
    for source, n in by_source.items():
        counts[phrasing_kind(source)] += n
    return counts


class CompletionLike(Protocol):
    """What the factory reads from ``puzzles.llm.Completion`` (read-only: it is frozen)."""

    @property
    def text(self) -> str: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def model(self) -> str: ...


class ChatPool(Protocol):
    """The seam to the LLM pool: ``puzzles.llm.LLMPool`` satisfies it, and so do test fakes.

    Errors are ``gate.errors.GateError`` subclasses (``puzzles.llm.LLMError``...); the factory treats
    any of them as "no answer from the model", never as an answer.
    """

    async def chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        tags: Any,
        max_tokens: int,
        temperature: float = ...,
        json_schema: dict[str, Any] | None = ...,
    ) -> CompletionLike: ...


@dataclass(frozen=True, slots=True)
class _FallbackTags:
    tenant: str
    job_class: str
    job_id: str


def call_tags(
    job_id: str, *, tenant: str = "factory", job_class: Literal["interactive", "batch"] = "batch"
) -> Any:
    """Pool call tags: ``puzzles.llm.CallTags`` when the pool package is installed.

    Factory work is batch work: the pool's scheduler serves interactive flows first and gives
    batch a guaranteed floor, so a long generation run never starves live traffic.
    """
    try:
        from puzzles.llm import CallTags
    except ImportError:  # the pool package is optional for offline use and unit tests
        return _FallbackTags(tenant, job_class, job_id)
    return CallTags(tenant=tenant, job_class=job_class, job_id=job_id)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens spent by model calls, summed."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.calls + other.calls,
        )

    @classmethod
    def of(cls, completion: CompletionLike) -> Usage:
        return cls(int(completion.prompt_tokens), int(completion.completion_tokens), 1)


__all__ = [
    "IMPORTED",
    "MODEL",
    "PHRASING_KINDS",
    "TEMPLATE",
    "ChatPool",
    "CompletionLike",
    "Usage",
    "call_tags",
    "phrasing_counts",
    "phrasing_kind",
]
