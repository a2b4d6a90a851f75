"""What the HTTP layer needs from a generation engine, and engine-independent text handling.

The HTTP layer (``puzzles.worker.app``) only knows ``Backend``; ``puzzles.worker.engine`` implements it on
transformers' continuous batching engine, where ``tenant`` reaches the fair scheduler.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from puzzles.worker.tenants import TenantView

FinishReason = Literal["stop", "length"]


class PromptError(ValueError):
    """The prompt cannot be served (too long for the model, no chat template, ...): a 400."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class ChatPrompt:
    """Messages rendered through the model's own chat template."""

    messages: tuple[ChatMessage, ...]


@dataclass(frozen=True, slots=True)
class TextPrompt:
    """Raw text, tokenized as is (``/v1/completions``)."""

    text: str


Prompt = ChatPrompt | TextPrompt


@dataclass(frozen=True, slots=True)
class SamplingParams:
    max_new_tokens: int
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


GenerationEvent = TextDelta | Finished


@dataclass(frozen=True, slots=True)
class QueueView:
    """What ``GET /queue`` and ``/metrics`` report: the engine's load, in total and per tenant."""

    model: str
    running: int
    waiting: int
    max_batch: int | None
    kv_blocks_free: int | None
    kv_blocks_total: int | None
    tenants: dict[str, TenantView]


class Backend(Protocol):
    """A generation engine.  ``generate`` yields ``TextDelta``s and ends with one ``Finished``."""

    @property
    def model_id(self) -> str: ...

    async def prepare(self, prompt: Prompt) -> list[int]:
        """Tokenize a prompt; raises ``PromptError`` before any response byte is sent."""
        ...

    def validate(self, params: SamplingParams) -> None:
        """Raise ``PromptError`` for parameters this engine cannot honour."""
        ...

    def queue(self) -> QueueView: ...

    def generate(
        self, prompt_ids: list[int], params: SamplingParams, *, tenant: str | None = None
    ) -> AsyncIterator[GenerationEvent]: ...


class TextAssembler:
    """Turns generated token ids into safe-to-send text, one token at a time.

    The whole sequence is decoded again after every token (cheap at these lengths) because a
    byte-level tokenizer can split a character over several tokens: a trailing U+FFFD is held back
    until the character is complete.  Text that could be the start of a stop sequence is held back
    too, so a client never receives part of a stop sequence that the final answer then lacks.
    """

    def __init__(self, decode: Callable[[Sequence[int]], str], stop: Sequence[str] = ()) -> None:
        self._decode = decode
        self._stop = tuple(s for s in stop if s)
        self._longest = max((len(s) for s in self._stop), default=0)
        self.token_ids: list[int] = []
        self.stopped = False  # a stop sequence was found; generation should end now
        self._text = ""
        self._sent = 0  # characters of _text already handed out

    def add(self, token_id: int) -> str:
        """Record one token; return the text that can be sent now (maybe empty)."""
        if self.stopped:
            return ""
        self.token_ids.append(token_id)
        self._text = text = self._decode(self.token_ids)
        if self._stop:
            # Held-back text starts at _sent at the earliest, so a stop can't begin before it.
            window = max(0, self._sent - self._longest)
            hits = [i for i in (text.find(s, window) for s in self._stop) if i >= 0]
            if hits:
                self.stopped = True
                return self._take(min(hits))
        end = len(text)
        while end > self._sent and text[end - 1] == "\ufffd":
            end -= 1
        for k in range(min(self._longest - 1, end - self._sent), 0, -1):
            tail = text[end - k : end]
            if any(s.startswith(tail) for s in self._stop):
                end -= k
                break
        return self._take(end)

    def flush(self) -> str:
        """Generation ended without a stop sequence: everything held back goes out."""
        return "" if self.stopped else self._take(len(self._text))

    def _take(self, end: int) -> str:
        if end <= self._sent:
            return ""
        chunk, self._sent = self._text[self._sent : end], end
        return chunk
