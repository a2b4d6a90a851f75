"""One streamed chat completion on the wire: the request the pool sends, how its chunks are read,
what it returns, and the token estimate for servers that report no usage.

Every call streams, so that a long generation holds no response buffer and servers that report
usage do so in the final chunk.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import openai

from puzzles.llm.backends import Backend

__all__ = [
    "CHARS_PER_TOKEN",
    "TOKENS_PER_MESSAGE",
    "Charged",
    "Completion",
    "Message",
    "StreamReader",
    "chat_request",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "make_client",
]

Message = Mapping[str, Any]

# Token estimate for servers that send no usage chunk (llama.cpp, some Ollama versions): about four
# characters per token for English text with BPE vocabularies, plus a few template tokens (role
# markers, separators) per message.  It errs on the high side for clue-style prose, which is the
# safe direction for charging.
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    backend: str
    model: str
    latency_s: float
    usage_reported: bool  # False: the token counts are estimates (see CHARS_PER_TOKEN)
    finish_reason: str | None = None  # "length" means max_tokens cut the text short
    queued_s: float = 0.0  # time spent waiting for a backend slot (last attempt)
    ttft_s: float | None = None  # queueing plus time to the first text (last attempt)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_prompt_tokens(messages: Iterable[Message]) -> int:
    total = 0
    for message in messages:
        total += TOKENS_PER_MESSAGE + estimate_tokens(_message_text(message))
    return total


def make_client(backend: Backend, http_client: httpx2.AsyncClient | None) -> openai.AsyncOpenAI:
    # max_retries=0: the pool owns retrying, so that it can fail over and account every attempt.
    return openai.AsyncOpenAI(
        base_url=backend.base_url,
        api_key=backend.api_key,
        timeout=backend.timeout,
        max_retries=0,
        http_client=http_client,
    )


def chat_request(
    backend: Backend,
    messages: Sequence[Message],
    *,
    tenant: str,
    max_tokens: int,
    temperature: float,
    json_schema: dict[str, Any] | None,
    stop: str | Sequence[str] | None,
) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` for one attempt on ``backend``."""
    request: dict[str, Any] = {
        "model": backend.model,
        "messages": list(messages),
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
        # The tenant travels with the call, so a fair backend (the gate worker) can share
        # its own batch between tenants too.
        "user": tenant,
        "extra_headers": {"X-Gate-Tenant": tenant},
    }
    if stop is not None:
        request["stop"] = stop if isinstance(stop, str) else list(stop)
    if json_schema is not None and backend.supports("json"):
        request["response_format"] = _response_format(json_schema)
    return request


@dataclass(slots=True)
class Charged:
    """Tokens of one attempt charged to its flow so far."""

    prompt: int
    output: int = 0


class StreamReader:
    """Collects choice 0's text, the finish reason and the usage chunk from a chat stream."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.usage: tuple[int, int] | None = None
        self.finish_reason: str | None = None

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, chunk: Any) -> None:
        # Chunks are built without validation, so a sloppy server can omit any field: read them
        # all with defaults rather than trusting the declared types.
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            prompt = getattr(usage, "prompt_tokens", None)
            completion = getattr(usage, "completion_tokens", None)
            if not isinstance(prompt, int) or not isinstance(completion, int):
                raise ValueError(f"usage chunk without integer token counts: {usage!r}")
            self.usage = (prompt, completion)
        for choice in getattr(chunk, "choices", None) or ():
            if getattr(choice, "index", 0) != 0:
                continue
            content = getattr(getattr(choice, "delta", None), "content", None)
            if content:
                self._parts.append(str(content))
            reason = getattr(choice, "finish_reason", None)
            if reason:
                self.finish_reason = str(reason)


def _response_format(json_schema: dict[str, Any]) -> dict[str, Any]:
    # OpenAI requires a name of [a-zA-Z0-9_-]{1,64}; the schema's title is the natural one.
    title = str(json_schema.get("title", "")) or "response"
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", title)[:64]
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": json_schema, "strict": True},
    }


def _message_text(message: Message) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only text parts count toward the estimate
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""
