"""A pool of OpenAI-compatible chat backends with caps, retries, health and usage accounting.

Every call streams, so that a long generation holds no response buffer and servers that report
usage do so in the final chunk.  Routing is deliberately simple here (most free slots among healthy
backends); fair queuing between tenants and job classes is layered on top using the ``CallTags``
each call carries.

Failure policy, per attempt:

* connection refused / DNS / reset: the backend is marked down for ``cooldown_s`` and the call
  fails over at once;
* timeout, 5xx, an error event in the stream, a malformed stream: retried (on another backend
  when there is one); ``down_after`` such failures in a row mark the backend down;
* 429: retried after a backoff that honours ``Retry-After``; the backend stays up (it is busy,
  not broken);
* any other 4xx: the request itself is wrong, so it is raised at once as ``LLMRejected``.

Retrying a backend already tried in this call waits an exponential backoff with jitter (so clients
that failed together do not retry together); moving to a fresh backend does not wait.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import openai

from gate.errors import GateError
from gate.llm.backends import Backend
from gate.llm.usage import CallTags, UsageLedger

Message = Mapping[str, Any]
Sleep = Callable[[float], Awaitable[None]]

# Token estimate for servers that send no usage chunk (llama.cpp, some Ollama versions): about four
# characters per token for English text with BPE vocabularies, plus a few template tokens (role
# markers, separators) per message.  It errs on the high side for clue-style prose, which is the
# safe direction for charging.
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
MAX_BACKOFF_S = 30.0


class LLMError(GateError):
    """An LLM call failed."""


class LLMUnavailable(LLMError):
    """No backend could serve the call: all are down, or every attempt failed."""


class LLMTimeout(LLMUnavailable):
    """The backend did not answer (or stopped streaming) within its timeout."""


class LLMRateLimited(LLMUnavailable):
    """The backend answered 429; ``retry_after`` is its hint in seconds, when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMRejected(LLMError):
    """The backend refused the request as invalid (a 4xx other than 429); retrying cannot help."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class LLMBadResponse(LLMError):
    """The backend's stream could not be understood."""


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


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_prompt_tokens(messages: Iterable[Message]) -> int:
    total = 0
    for message in messages:
        total += TOKENS_PER_MESSAGE + estimate_tokens(_message_text(message))
    return total


class _BackendState:
    """Mutable run-time state of one backend; only the pool touches it."""

    def __init__(self, backend: Backend, client: openai.AsyncOpenAI) -> None:
        self.backend = backend
        self.client = client
        self.slots = asyncio.Semaphore(backend.max_in_flight)
        # Holders plus waiters: counting waiters too spreads a burst across backends instead of
        # queueing it all on whichever one looked free first.
        self.reserved = 0
        self.failures = 0  # consecutive retryable failures
        self.down_until: float | None = None

    def is_up(self, now: float) -> bool:
        return self.down_until is None or now >= self.down_until

    @property
    def free(self) -> int:
        return self.backend.max_in_flight - self.reserved


class LLMPool:
    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        http_client: httpx2.AsyncClient | None = None,
        retries: int = 2,
        backoff: float = 0.5,
        cooldown_s: float = 30.0,
        down_after: int = 3,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        ledger: UsageLedger | None = None,
        name: str = "default",
    ) -> None:
        """``http_client`` is shared by all backends and stays the caller's to close (tests pass
        one built on ``httpx2.MockTransport``); without it each backend gets its own."""
        if not backends:
            raise ValueError("LLMPool needs at least one backend")
        names = [backend.name for backend in backends]
        if len(set(names)) != len(names):
            raise ValueError(f"backend names must be unique: {names}")
        self._owns_clients = http_client is None
        self._states = [
            _BackendState(backend, _make_client(backend, http_client)) for backend in backends
        ]
        self._retries = retries
        self._backoff = backoff
        self._cooldown_s = cooldown_s
        self._down_after = down_after
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.ledger = ledger or UsageLedger()
        self.name = name

    @property
    def backends(self) -> tuple[Backend, ...]:
        return tuple(state.backend for state in self._states)

    def is_up(self, name: str) -> bool:
        return self._state(name).is_up(self._clock())

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tags: CallTags,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
        stop: str | Sequence[str] | None = None,
    ) -> Completion:
        """Stream one chat completion and return its whole text (unparsed, even with a schema:
        backends without the "json" capability only see the schema if the prompt carries it)."""
        candidates = [state for state in self._states if state.backend.supports("chat")]
        if not candidates:
            raise LLMUnavailable("no LLM backend offers the 'chat' capability")
        tried: set[str] = set()
        last: LLMError | None = None
        for attempt in range(self._retries + 1):
            state = self._pick(candidates, tried, prefer_json=json_schema is not None)
            if state is None:
                break
            if state.backend.name in tried:
                await self._sleep(self._backoff_delay(attempt, last))
            tried.add(state.backend.name)
            try:
                return await self._attempt(
                    state, messages, tags, max_tokens, temperature, json_schema, stop
                )
            except LLMRejected:
                raise
            except LLMError as error:
                last = error
        if last is None:
            raise LLMUnavailable(f"all {len(candidates)} LLM backend(s) are marked down")
        raise last

    async def health(self) -> dict[str, bool]:
        """Probe every backend (GET {base_url}/models) and mark each up or down accordingly."""
        results = await asyncio.gather(*(self._probe(state) for state in self._states))
        return {state.backend.name: ok for state, ok in zip(self._states, results, strict=True)}

    async def watch_health(self, interval: float = 15.0) -> None:
        """Probe every backend every ``interval`` seconds until cancelled, so a backend that came
        back is used again (and a dead one avoided) without waiting for traffic to find out.
        Run it as a task next to the pool: ``asyncio.create_task(pool.watch_health())``."""
        while True:
            await self.health()
            await self._sleep(interval)

    def snapshot(self) -> dict[str, Any]:
        """Backends and flows as plain JSON-ready data (shape: ``gate.llm.snapshot``)."""
        now = self._clock()
        usage = self.ledger.snapshot()
        return {
            "name": self.name,
            "at": time.time(),
            "jain": None,
            "backends": [
                {
                    "name": state.backend.name,
                    "url": state.backend.base_url,
                    "kind": "openai",
                    "healthy": state.is_up(now),
                    "in_flight": state.reserved,
                    "cap": state.backend.max_in_flight,
                    "queue": None,
                }
                for state in self._states
            ],
            "flows": [
                {
                    "tenant": tenant,
                    "job_class": job_class,
                    "weight": 1.0,
                    "queued": 0,
                    "in_flight": 0,
                    "service": float(flow_usage.total_tokens),
                    "prompt_tokens": flow_usage.prompt_tokens,
                    "output_tokens": flow_usage.completion_tokens,
                    "wait_p50_s": None,
                    "wait_max_s": None,
                }
                for (tenant, job_class), flow_usage in sorted(usage.by_flow.items())
            ],
        }

    async def aclose(self) -> None:
        if self._owns_clients:
            await asyncio.gather(*(state.client.close() for state in self._states))

    # -- routing and health -------------------------------------------------------------------

    def _state(self, name: str) -> _BackendState:
        for state in self._states:
            if state.backend.name == name:
                return state
        raise KeyError(name)

    def _pick(
        self, candidates: list[_BackendState], tried: set[str], *, prefer_json: bool
    ) -> _BackendState | None:
        now = self._clock()
        up = [state for state in candidates if state.is_up(now)]
        fresh = [state for state in up if state.backend.name not in tried]
        pool = fresh or up
        if not pool:
            return None
        # max() keeps the first of equals, so ties go to the order of the configuration file.
        return max(pool, key=lambda s: (s.free, prefer_json and s.backend.supports("json")))

    def _backoff_delay(self, attempt: int, last: LLMError | None) -> float:
        base = min(self._backoff * 2 ** (attempt - 1), MAX_BACKOFF_S)
        # "Equal jitter": at least half the base, so retries still back off, randomised so that
        # callers that failed together spread out.
        delay = base / 2 + self._rng.uniform(0, base / 2)
        if isinstance(last, LLMRateLimited) and last.retry_after is not None:
            delay = max(delay, min(last.retry_after, MAX_BACKOFF_S))
        return delay

    def _mark_up(self, state: _BackendState) -> None:
        state.failures = 0
        state.down_until = None

    def _mark_down(self, state: _BackendState) -> None:
        state.down_until = self._clock() + self._cooldown_s

    def _note_failure(self, state: _BackendState, error: LLMError, cause: Exception) -> None:
        if isinstance(error, LLMRateLimited):
            return  # busy, not broken
        state.failures += 1
        # Refused connections mean nobody is listening: stop sending traffic there right away.
        refused = isinstance(cause, openai.APIConnectionError | httpx2.TransportError) and not (
            isinstance(error, LLMTimeout)
        )
        if refused or state.failures >= self._down_after:
            self._mark_down(state)

    async def _probe(self, state: _BackendState) -> bool:
        try:
            await state.client.models.list(timeout=state.backend.timeout)
        except (openai.OpenAIError, httpx2.HTTPError):
            self._mark_down(state)
            return False
        self._mark_up(state)
        return True

    # -- one attempt --------------------------------------------------------------------------

    async def _attempt(
        self,
        state: _BackendState,
        messages: Sequence[Message],
        tags: CallTags,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None,
        stop: str | Sequence[str] | None,
    ) -> Completion:
        backend = state.backend
        request: dict[str, Any] = {
            "model": backend.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if stop is not None:
            request["stop"] = stop if isinstance(stop, str) else list(stop)
        if json_schema is not None and backend.supports("json"):
            request["response_format"] = _response_format(json_schema)
        reading = _StreamReader()
        state.reserved += 1
        try:
            async with state.slots:
                started = self._clock()
                try:
                    stream = await state.client.chat.completions.create(**request)
                    async with stream:
                        async for chunk in stream:
                            reading.feed(chunk)
                except Exception as exc:
                    error = _translate(exc, backend.name)
                    self._record(tags, messages, reading, ok=False)
                    if not isinstance(error, LLMRejected):
                        self._note_failure(state, error, exc)
                    raise error from exc
                latency = self._clock() - started
        finally:
            state.reserved -= 1
        self._mark_up(state)
        prompt_tokens, completion_tokens = self._record(tags, messages, reading, ok=True)
        return Completion(
            text=reading.text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            backend=backend.name,
            model=backend.model,
            latency_s=latency,
            usage_reported=reading.usage is not None,
            finish_reason=reading.finish_reason,
        )

    def _record(
        self, tags: CallTags, messages: Sequence[Message], reading: _StreamReader, *, ok: bool
    ) -> tuple[int, int]:
        if reading.usage is not None:
            prompt, completion = reading.usage
        elif ok or reading.text:
            # A failed attempt that streamed some text had its prompt processed: charge that.
            prompt, completion = estimate_prompt_tokens(messages), estimate_tokens(reading.text)
        else:
            prompt, completion = 0, 0  # failed before generating: nothing known to charge
        self.ledger.record(
            tags,
            prompt_tokens=prompt,
            completion_tokens=completion,
            ok=ok,
            estimated=reading.usage is None,
        )
        return prompt, completion


class _StreamReader:
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


def _make_client(backend: Backend, http_client: httpx2.AsyncClient | None) -> openai.AsyncOpenAI:
    # max_retries=0: the pool owns retrying, so that it can fail over and account every attempt.
    return openai.AsyncOpenAI(
        base_url=backend.base_url,
        api_key=backend.api_key,
        timeout=backend.timeout,
        max_retries=0,
        http_client=http_client,
    )


def _response_format(json_schema: dict[str, Any]) -> dict[str, Any]:
    # OpenAI requires a name of [a-zA-Z0-9_-]{1,64}; the schema's title is the natural one.
    title = str(json_schema.get("title", "")) or "response"
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", title)[:64]
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": json_schema, "strict": True},
    }


def _translate(exc: Exception, backend: str) -> LLMError:
    """Map whatever one attempt raised onto the pool's own errors (the caller chains the cause)."""
    where = f"LLM backend {backend!r}"
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return LLMTimeout(f"{where} timed out")
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return LLMUnavailable(f"{where} is unreachable: {exc}")
    if isinstance(exc, openai.RateLimitError):
        return LLMRateLimited(f"{where} is rate limiting (429)", _retry_after(exc.response))
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return LLMUnavailable(f"{where} failed with HTTP {exc.status_code}")
        return LLMRejected(
            f"{where} rejected the request with HTTP {exc.status_code}: {exc.message}",
            exc.status_code,
        )
    if isinstance(exc, openai.APIError):  # an error event inside the stream
        return LLMUnavailable(f"{where} reported an error mid-stream: {exc.message}")
    if isinstance(exc, ValueError | TypeError | AttributeError):
        return LLMBadResponse(f"{where} sent a malformed stream: {exc}")
    if isinstance(exc, openai.OpenAIError | httpx2.HTTPError):
        return LLMError(f"{where} call failed: {exc}")
    raise exc  # a bug of ours, not a backend failure: let it surface unchanged


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from LLM servers, and the backoff still applies
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _message_text(message: Message) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only text parts count toward the estimate
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""
