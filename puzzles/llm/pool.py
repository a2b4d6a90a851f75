"""A pool of OpenAI-compatible chat backends with caps, retries, health and usage accounting.

The pool is assembled from one module per idea: ``stream`` (the request and the streamed answer),
``dispatch`` (the queue for backend slots, fair through ``scheduler``, routed with ``affinity``),
``health`` (when a backend counts as down), ``errors`` (what a failure means).  This module holds
the call itself: attempts, retries and the accounting of every attempt.

A call waits for a slot in a ``FairScheduler`` (virtual token counters per (tenant, job class)
flow, interactive before batch with a batch floor); tokens are charged to the flow as they stream
and reconciled with the final usage.  A call with a deadline it cannot meet is refused at once
with ``LLMShed``.

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
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx2

from puzzles.llm.affinity import PrefixAffinity
from puzzles.llm.backends import Backend
from puzzles.llm.dispatch import Dispatcher
from puzzles.llm.errors import (
    LLMError,
    LLMRateLimited,
    LLMRejected,
    LLMUnavailable,
    translate,
)
from puzzles.llm.flows import Ticket
from puzzles.llm.health import BackendState, HealthPolicy, read_queue
from puzzles.llm.scheduler import FairScheduler
from puzzles.llm.stream import (
    Charged,
    Completion,
    Message,
    StreamReader,
    chat_request,
    estimate_prompt_tokens,
    estimate_tokens,
    make_client,
)
from puzzles.llm.tenants import FairnessSettings
from puzzles.llm.usage import CallTags, UsageLedger

__all__ = ["LLMPool"]

Sleep = Callable[[float], Awaitable[None]]
MAX_BACKOFF_S = 30.0


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
            BackendState(backend, make_client(backend, http_client)) for backend in backends
        ]
        self._retries = retries
        self._backoff = backoff
        self._health = HealthPolicy(cooldown_s, down_after, clock)
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
        self._queue = Dispatcher(
            self._states,
            self.scheduler,
            self.affinity,
            headroom=settings.headroom,
            clock=clock,
            name=name,
        )

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
            state, ticket = await self._queue.acquire(
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
                self._queue.release(state, ticket)
        if last is None:
            raise LLMUnavailable(f"all {len(candidates)} LLM backend(s) are marked down")
        raise last

    async def health(self) -> dict[str, bool]:
        """Probe every backend (GET {base_url}/models) and mark each up or down accordingly."""
        results = await asyncio.gather(*(self._health.probe(state) for state in self._states))
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
        answers = await asyncio.gather(
            *(read_queue(state, self._queue_client()) for state in workers)
        )
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

    def _state(self, name: str) -> BackendState:
        for state in self._states:
            if state.backend.name == name:
                return state
        raise KeyError(name)

    def _queue_client(self) -> httpx2.AsyncClient:
        """The caller's HTTP client, else one of the pool's own, made on first use."""
        if self._http is not None:
            return self._http
        if self._own_http is None:
            self._own_http = httpx2.AsyncClient()
        return self._own_http

    def _backoff_delay(self, attempt: int, last: LLMError | None) -> float:
        base = min(self._backoff * 2 ** (attempt - 1), MAX_BACKOFF_S)
        # "Equal jitter": at least half the base, so retries still back off, randomised so that
        # callers that failed together spread out.
        delay = base / 2 + self._rng.uniform(0, base / 2)
        if isinstance(last, LLMRateLimited) and last.retry_after is not None:
            delay = max(delay, min(last.retry_after, MAX_BACKOFF_S))
        return delay

    # -- one attempt --------------------------------------------------------------------------

    async def _attempt(
        self,
        state: BackendState,
        ticket: Ticket,
        messages: Sequence[Message],
        tags: CallTags,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None,
        stop: str | Sequence[str] | None,
    ) -> Completion:
        backend = state.backend
        request = chat_request(
            backend,
            messages,
            tenant=tags.tenant,
            max_tokens=max_tokens,
            temperature=temperature,
            json_schema=json_schema,
            stop=stop,
        )
        reading = StreamReader()
        # Charge the prompt when it is dispatched (that is when the backend spends on it) and the
        # output as it streams, so a long generation counts against its flow while it runs.
        charged = Charged(prompt=estimate_prompt_tokens(messages))
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
            error = translate(exc, backend.name)
            self._record(tags, messages, reading, ticket, charged, ok=False)
            if not isinstance(error, LLMRejected):
                self._health.note_failure(state, error, exc)
            raise error from exc
        latency = self._clock() - started
        self._health.mark_up(state)
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
        reading: StreamReader,
        ticket: Ticket,
        charged: Charged,
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
        self._queue.observe(ticket.flow)
        return prompt, completion
