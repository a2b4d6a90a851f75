"""A pool of OpenAI-compatible chat backends with caps, retries, health and usage accounting.

Every call streams, so that a long generation holds no response buffer and servers that report
usage do so in the final chunk.

Scheduling: each backend takes at most ``max_in_flight`` requests, so queueing (and therefore
fairness) happens here rather than inside the engines.  A call waits for a slot in a
``FairScheduler`` (virtual token counters per (tenant, job class) flow, interactive before batch
with a batch floor); whenever a slot frees, the scheduler names the next request and the pool
routes it: to an untried backend first (failover), then to the backend that recently served the
same prompt prefix (``PrefixAffinity``, guarded against imbalance), else to the one with the most
free slots.  Tokens are charged to the flow as they stream and reconciled with the final usage.
A call with a deadline it cannot meet is refused at once with ``LLMShed``.

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

from gate import metrics
from gate.errors import GateError
from puzzles.llm.affinity import PrefixAffinity
from puzzles.llm.backends import Backend
from puzzles.llm.scheduler import FairScheduler, Ticket
from puzzles.llm.tenants import FairnessSettings
from puzzles.llm.usage import CallTags, Flow, UsageLedger

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


class LLMShed(LLMError):
    """The pool refused the call because its deadline cannot be met: the queue ahead of it is
    expected to take longer.  Nothing was sent; the caller may retry later or elsewhere."""

    def __init__(self, message: str, *, estimated_wait_s: float, deadline_s: float) -> None:
        super().__init__(message)
        self.estimated_wait_s = estimated_wait_s
        self.deadline_s = deadline_s


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


class _BackendState:
    """Mutable run-time state of one backend; only the pool touches it."""

    def __init__(self, backend: Backend, client: openai.AsyncOpenAI) -> None:
        self.backend = backend
        self.client = client
        self.in_flight = 0
        self.failures = 0  # consecutive retryable failures
        self.down_until: float | None = None
        self.queue: dict[str, Any] | None = None  # last /queue answer of a gate worker

    def is_up(self, now: float) -> bool:
        return self.down_until is None or now >= self.down_until

    @property
    def free(self) -> int:
        return self.backend.max_in_flight - self.in_flight

    @property
    def external_load(self) -> int:
        """Requests a gate worker reports beyond ours: other clients sharing it."""
        if self.queue is None:
            return 0
        reported = _int_field(self.queue, "running") + _int_field(self.queue, "waiting")
        return max(0, reported - self.in_flight)


@dataclass(slots=True)
class _Request:
    """What the pool needs to route a queued request once the scheduler picks it."""

    future: asyncio.Future[_BackendState]
    tried: frozenset[str]
    prefer_json: bool
    prefix: str | None


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
        fairness: FairnessSettings | None = None,
        affinity: PrefixAffinity | None = None,
    ) -> None:
        """``http_client`` is shared by all backends and stays the caller's to close (tests pass
        one built on ``httpx2.MockTransport``); without it each backend gets its own.
        ``fairness`` sets tenant weights and the batch floor (``GATE_LLM_TENANTS``); ``name``
        labels the pool's snapshot and metrics."""
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
        self._http = http_client
        self._own_http: httpx2.AsyncClient | None = None
        settings = fairness or FairnessSettings()
        self.scheduler = FairScheduler(
            weights=settings.weights,
            default_weight=settings.default_weight,
            input_weight=settings.input_weight,
            output_weight=settings.output_weight,
            batch_floor=settings.batch_floor,
            clock=clock,
            fifo=settings.policy == "fifo",
            burst=settings.burst,
        )
        self.affinity = affinity or PrefixAffinity(clock=clock)
        self._headroom = settings.headroom

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
        deadline: float | None = None,
    ) -> Completion:
        """Stream one chat completion and return its whole text (unparsed, even with a schema:
        backends without the "json" capability only see the schema if the prompt carries it).

        ``deadline`` (seconds from now; default ``tags.deadline_s``) bounds the wait for a slot:
        a call expected to wait longer is refused at once with ``LLMShed``, and one whose deadline
        has passed by the time a slot comes for it is shed then rather than sent."""
        candidates = [state for state in self._states if state.backend.supports("chat")]
        if not candidates:
            raise LLMUnavailable("no LLM backend offers the 'chat' capability")
        if deadline is None:
            deadline = tags.deadline_s
        deadline_at = None if deadline is None else self._clock() + deadline
        prefix = self.affinity.key(messages)
        tried: set[str] = set()
        last: LLMError | None = None
        for attempt in range(self._retries + 1):
            now = self._clock()
            up = [state for state in candidates if state.is_up(now)]
            if not up:
                break
            if all(state.backend.name in tried for state in up):
                await self._sleep(self._backoff_delay(attempt, last))
            state, ticket = await self._acquire(
                tags, frozenset(tried), json_schema is not None, prefix, deadline_at
            )
            tried.add(state.backend.name)
            try:
                return await self._attempt(
                    state, ticket, messages, tags, max_tokens, temperature, json_schema, stop
                )
            except LLMRejected:
                raise
            except LLMError as error:
                last = error
            finally:
                self._release(state, ticket)
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
            await self.poll_queues()
            await self._sleep(interval)

    async def poll_queues(self) -> dict[str, dict[str, Any] | None]:
        """Read the queue of every ``gate-worker`` backend (GET {root}/queue); the answer feeds
        routing (its load from other clients) and the snapshot.  A failed read clears it."""
        workers = [state for state in self._states if state.backend.kind == "gate-worker"]
        answers = await asyncio.gather(*(self._read_queue(state) for state in workers))
        for state, answer in zip(workers, answers, strict=True):
            state.queue = answer
        return {state.backend.name: state.queue for state in workers}

    async def watch_queues(self, interval: float = 2.0) -> None:
        """Poll the gate workers' queues every ``interval`` seconds until cancelled."""
        while True:
            await self.poll_queues()
            await self._sleep(interval)

    def snapshot(self) -> dict[str, Any]:
        """Backends and flows as plain JSON-ready data (shape: ``puzzles.llm.snapshot``)."""
        now = self._clock()
        return {
            "name": self.name,
            "at": time.time(),
            "jain": self.scheduler.jain(),
            "backends": [
                {
                    "name": state.backend.name,
                    "url": state.backend.base_url,
                    "kind": state.backend.kind,
                    "healthy": state.is_up(now),
                    "in_flight": state.in_flight,
                    "cap": state.backend.max_in_flight,
                    "queue": state.queue,
                }
                for state in self._states
            ],
            "flows": [
                {
                    "tenant": flow.tenant,
                    "job_class": flow.job_class,
                    "weight": flow.weight,
                    "queued": flow.queued,
                    "in_flight": flow.in_flight,
                    "service": flow.service,
                    "prompt_tokens": flow.prompt_tokens,
                    "output_tokens": flow.output_tokens,
                    "wait_p50_s": flow.wait_p50_s,
                    "wait_max_s": flow.wait_max_s,
                }
                for flow in self.scheduler.stats()
            ],
        }

    async def aclose(self) -> None:
        if self._owns_clients:
            await asyncio.gather(*(state.client.close() for state in self._states))
        if self._own_http is not None:
            await self._own_http.aclose()

    # -- queueing -----------------------------------------------------------------------------

    async def _acquire(
        self,
        tags: CallTags,
        tried: frozenset[str],
        prefer_json: bool,
        prefix: str | None,
        deadline_at: float | None,
    ) -> tuple[_BackendState, Ticket]:
        """Queue for a slot and wait until the scheduler dispatches this call to a backend."""
        now = self._clock()
        if deadline_at is not None:
            usable = self._usable(now)
            wait = self.scheduler.estimated_wait(
                tags.tenant,
                tags.job_class,
                capacity=sum(s.backend.max_in_flight for s in usable),
                free=sum(max(s.free, 0) for s in usable),
            )
            if now + wait > deadline_at:
                raise self._shed(tags, wait, deadline_at - now)
        future: asyncio.Future[_BackendState] = asyncio.get_running_loop().create_future()
        ticket = self.scheduler.submit(
            tags.tenant,
            tags.job_class,
            deadline_at=deadline_at,
            payload=_Request(future, tried, prefer_json, prefix),
        )
        self._observe(ticket.flow)
        self._dispatch()
        try:
            state = await future
        except asyncio.CancelledError:
            # Cancelled while queued: leave the queue; cancelled just as a slot came: give it back.
            dispatched = not self.scheduler.cancel(ticket)
            if dispatched and future.done() and not future.cancelled() and not future.exception():
                self._release(future.result(), ticket)
            self._observe(ticket.flow)
            raise
        return state, ticket

    def _dispatch(self) -> None:
        """Hand free slots to queued calls, in the scheduler's order, until one or the other runs
        out.  Called whenever a call is queued or a slot is released.  When every cap is reached,
        the call of a sparse flow may still take one of ``headroom`` extra slots per backend (see
        ``FairScheduler.pop_sparse``)."""
        while True:
            now = self._clock()
            usable = self._usable(now)
            targets = [s for s in usable if s.free > 0]
            if targets or not usable:
                ticket = self.scheduler.pop()
            else:
                targets = [s for s in usable if s.free + self._headroom > 0]
                if not targets:
                    return
                slots = sum(s.backend.max_in_flight for s in usable)
                ticket = self.scheduler.pop_sparse(slots)
            if ticket is None:
                return
            request: _Request = ticket.payload
            failure: LLMError | None = None
            if not usable:
                failure = LLMUnavailable("every LLM backend is marked down")
            elif ticket.deadline_at is not None and now > ticket.deadline_at:
                failure = self._shed(
                    CallTags(ticket.flow[0], ticket.flow[1]),
                    now - ticket.enqueued_at,
                    ticket.deadline_at - ticket.enqueued_at,
                )
            if request.future.done() or failure is not None:
                # Not sent after all: its caller went away, or it fails here.
                self.scheduler.drop(ticket)
                self._observe(ticket.flow)
                if failure is not None and not request.future.done():
                    request.future.set_exception(failure)
                continue
            self._observe(ticket.flow, waited=now - ticket.enqueued_at)
            state = self._route(request, targets)
            state.in_flight += 1
            request.future.set_result(state)

    def _usable(self, now: float) -> list[_BackendState]:
        """The backends that serve chat and are not marked down."""
        return [s for s in self._states if s.backend.supports("chat") and s.is_up(now)]

    def _route(self, request: _Request, free: list[_BackendState]) -> _BackendState:
        fresh = [state for state in free if state.backend.name not in request.tried] or free
        loads = {
            s.backend.name: (s.in_flight + s.external_load, s.backend.max_in_flight) for s in fresh
        }
        chosen_name = self.affinity.choose(request.prefix, loads)
        if chosen_name is not None:
            chosen = next(s for s in fresh if s.backend.name == chosen_name)
        else:
            # max() keeps the first of equals, so ties go to the order of the configuration file.
            chosen = max(
                fresh,
                key=lambda s: (
                    s.free - s.external_load,
                    request.prefer_json and s.backend.supports("json"),
                ),
            )
        self.affinity.remember(request.prefix, chosen.backend.name)
        return chosen

    def _release(self, state: _BackendState, ticket: Ticket) -> None:
        state.in_flight -= 1
        started = ticket.dispatched_at
        self.scheduler.finish(
            ticket, service_s=None if started is None else self._clock() - started
        )
        self._observe(ticket.flow)
        self._dispatch()

    def _shed(self, tags: CallTags, wait: float, deadline: float) -> LLMShed:
        metrics.LLM_SHED.labels(self.name, tags.tenant, tags.job_class).inc()
        return LLMShed(
            f"LLM pool {self.name!r} is overloaded: the {tags.job_class} call of tenant "
            f"{tags.tenant!r} would wait about {wait:.1f}s for a backend, beyond its "
            f"{deadline:.1f}s deadline",
            estimated_wait_s=wait,
            deadline_s=deadline,
        )

    def _observe(self, flow: Flow, *, waited: float | None = None) -> None:
        """Refresh the flow's prometheus series (queue depth, in flight, service, waits)."""
        labels = (self.name, flow[0], flow[1])
        queued, in_flight, service = self.scheduler.figures(flow)
        metrics.LLM_FLOW_QUEUED.labels(*labels).set(queued)
        metrics.LLM_FLOW_IN_FLIGHT.labels(*labels).set(in_flight)
        metrics.LLM_FLOW_SERVICE.labels(*labels).set(service)
        if waited is not None:
            metrics.LLM_FLOW_WAIT.labels(*labels).observe(max(waited, 0.0))

    async def _read_queue(self, state: _BackendState) -> dict[str, Any] | None:
        url = state.backend.queue_url
        client = self._http
        if client is None:
            if self._own_http is None:
                self._own_http = httpx2.AsyncClient()
            client = self._own_http
        try:
            response = await client.get(url, timeout=state.backend.timeout)
            response.raise_for_status()
            answer = response.json()
        except (httpx2.HTTPError, ValueError):
            return None
        return answer if isinstance(answer, dict) else None

    # -- routing and health -------------------------------------------------------------------

    def _state(self, name: str) -> _BackendState:
        for state in self._states:
            if state.backend.name == name:
                return state
        raise KeyError(name)

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
        ticket: Ticket,
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
            # The tenant travels with the call, so a fair backend (the gate worker) can share
            # its own batch between tenants too.
            "user": tags.tenant,
            "extra_headers": {"X-Gate-Tenant": tags.tenant},
        }
        if stop is not None:
            request["stop"] = stop if isinstance(stop, str) else list(stop)
        if json_schema is not None and backend.supports("json"):
            request["response_format"] = _response_format(json_schema)
        reading = _StreamReader()
        # Charge the prompt when it is dispatched (that is when the backend spends on it) and the
        # output as it streams, so a long generation counts against its flow while it runs.
        charged = _Charged(prompt=estimate_prompt_tokens(messages))
        self.scheduler.charge(ticket.flow, prompt_tokens=charged.prompt)
        started = self._clock()
        queued_s = started - ticket.enqueued_at
        first_text_at: float | None = None
        try:
            stream = await state.client.chat.completions.create(**request)
            async with stream:
                async for chunk in stream:
                    reading.feed(chunk)
                    if first_text_at is None and reading.text:
                        first_text_at = self._clock()
                    produced = estimate_tokens(reading.text)
                    if produced > charged.output:
                        self.scheduler.charge(ticket.flow, output_tokens=produced - charged.output)
                        charged.output = produced
        except Exception as exc:
            error = _translate(exc, backend.name)
            self._record(tags, messages, reading, ticket, charged, ok=False)
            if not isinstance(error, LLMRejected):
                self._note_failure(state, error, exc)
            raise error from exc
        latency = self._clock() - started
        self._mark_up(state)
        prompt_tokens, completion_tokens = self._record(
            tags, messages, reading, ticket, charged, ok=True
        )
        return Completion(
            text=reading.text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            backend=backend.name,
            model=backend.model,
            latency_s=latency,
            usage_reported=reading.usage is not None,
            finish_reason=reading.finish_reason,
            queued_s=queued_s,
            ttft_s=None if first_text_at is None else first_text_at - ticket.enqueued_at,
        )

    def _record(
        self,
        tags: CallTags,
        messages: Sequence[Message],
        reading: _StreamReader,
        ticket: Ticket,
        charged: _Charged,
        *,
        ok: bool,
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
        # Reconcile the flow's running charge with the final figures (either way).
        self.scheduler.charge(
            ticket.flow,
            prompt_tokens=prompt - charged.prompt,
            output_tokens=completion - charged.output,
        )
        charged.prompt, charged.output = prompt, completion
        self._observe(ticket.flow)
        return prompt, completion


@dataclass(slots=True)
class _Charged:
    """Tokens of one attempt charged to its flow so far."""

    prompt: int
    output: int = 0


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


def _int_field(answer: Mapping[str, Any], name: str) -> int:
    value = answer.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _message_text(message: Message) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only text parts count toward the estimate
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""
