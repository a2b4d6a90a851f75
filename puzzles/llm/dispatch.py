"""The pool's queue: calls wait here for a backend slot, in the fair scheduler's order, and each
is routed to a backend when its turn comes.

Each backend takes at most ``max_in_flight`` requests, so queueing (and therefore fairness)
happens here rather than inside the engines.  Whenever a slot frees, the scheduler names the next
request and the dispatcher routes it: to a backend this call has not tried yet first (failover),
then to the backend that recently served the same prompt prefix (``PrefixAffinity``, guarded
against imbalance), else to the one with the most free slots.  A call whose deadline cannot be met
is shed (``LLMShed``) before anything is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gate import metrics
from puzzles.llm.affinity import PrefixAffinity
from puzzles.llm.errors import LLMError, LLMShed, LLMUnavailable
from puzzles.llm.flows import Ticket
from puzzles.llm.health import BackendState
from puzzles.llm.scheduler import FairScheduler
from puzzles.llm.usage import CallTags, Flow

__all__ = ["Dispatcher"]


@dataclass(slots=True)
class _Request:
    """What the dispatcher needs to route a queued request once the scheduler picks it."""

    future: asyncio.Future[BackendState]
    tried: frozenset[str]
    prefer_json: bool
    prefix: str | None


class Dispatcher:
    def __init__(
        self,
        states: Sequence[BackendState],
        scheduler: FairScheduler,
        affinity: PrefixAffinity,
        *,
        headroom: int,
        clock: Callable[[], float],
        name: str,
    ) -> None:
        """``name`` labels the pool's metrics; ``headroom``: extra slots per backend a sparse
        flow may take when every cap is reached (``FairScheduler.pop_sparse``)."""
        self._states = states
        self._scheduler = scheduler
        self._affinity = affinity
        self._headroom = headroom
        self._clock = clock
        self._name = name

    async def acquire(
        self,
        tags: CallTags,
        tried: frozenset[str],
        prefer_json: bool,
        prefix: str | None,
        deadline_at: float | None,
    ) -> tuple[BackendState, Ticket]:
        """Queue for a slot and wait until the scheduler dispatches this call to a backend."""
        now = self._clock()
        if deadline_at is not None:
            usable = self._usable(now)
            wait = self._scheduler.estimated_wait(
                tags.tenant,
                tags.job_class,
                capacity=sum(s.backend.max_in_flight for s in usable),
                free=sum(max(s.free, 0) for s in usable),
            )
            if now + wait > deadline_at:
                raise self._shed(tags, wait, deadline_at - now)
        future: asyncio.Future[BackendState] = asyncio.get_running_loop().create_future()
        ticket = self._scheduler.submit(
            tags.tenant,
            tags.job_class,
            deadline_at=deadline_at,
            payload=_Request(future, tried, prefer_json, prefix),
        )
        self.observe(ticket.flow)
        self._dispatch()
        try:
            state = await future
        except asyncio.CancelledError:
            # Cancelled while queued: leave the queue; cancelled just as a slot came: give it back.
            dispatched = not self._scheduler.cancel(ticket)
            if dispatched and future.done() and not future.cancelled() and not future.exception():
                self.release(future.result(), ticket)
            self.observe(ticket.flow)
            raise
        return state, ticket

    def release(self, state: BackendState, ticket: Ticket) -> None:
        """Give the slot back when the attempt ends, and hand it to the next call."""
        state.in_flight -= 1
        started = ticket.dispatched_at
        self._scheduler.finish(
            ticket, service_s=None if started is None else self._clock() - started
        )
        self.observe(ticket.flow)
        self._dispatch()

    def observe(self, flow: Flow, *, waited: float | None = None) -> None:
        """Refresh the flow's prometheus series (queue depth, in flight, service, waits)."""
        labels = (self._name, flow[0], flow[1])
        queued, in_flight, service = self._scheduler.figures(flow)
        metrics.LLM_FLOW_QUEUED.labels(*labels).set(queued)
        metrics.LLM_FLOW_IN_FLIGHT.labels(*labels).set(in_flight)
        metrics.LLM_FLOW_SERVICE.labels(*labels).set(service)
        if waited is not None:
            metrics.LLM_FLOW_WAIT.labels(*labels).observe(max(waited, 0.0))

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
                ticket = self._scheduler.pop()
            else:
                targets = [s for s in usable if s.free + self._headroom > 0]
                if not targets:
                    return
                slots = sum(s.backend.max_in_flight for s in usable)
                ticket = self._scheduler.pop_sparse(slots)
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
                self._scheduler.drop(ticket)
                self.observe(ticket.flow)
                if failure is not None and not request.future.done():
                    request.future.set_exception(failure)
                continue
            self.observe(ticket.flow, waited=now - ticket.enqueued_at)
            state = self._route(request, targets)
            state.in_flight += 1
            request.future.set_result(state)

    def _usable(self, now: float) -> list[BackendState]:
        """The backends that serve chat and are not marked down."""
        return [s for s in self._states if s.backend.supports("chat") and s.is_up(now)]

    def _route(self, request: _Request, free: list[BackendState]) -> BackendState:
        fresh = [state for state in free if state.backend.name not in request.tried] or free
        loads = {
            s.backend.name: (s.in_flight + s.external_load, s.backend.max_in_flight) for s in fresh
        }
        chosen_name = self._affinity.choose(request.prefix, loads)
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
        self._affinity.remember(request.prefix, chosen.backend.name)
        return chosen

    def _shed(self, tags: CallTags, wait: float, deadline: float) -> LLMShed:
        metrics.LLM_SHED.labels(self._name, tags.tenant, tags.job_class).inc()
        return LLMShed(
            f"LLM pool {self._name!r} is overloaded: the {tags.job_class} call of tenant "
            f"{tags.tenant!r} would wait about {wait:.1f}s for a backend, beyond its "
            f"{deadline:.1f}s deadline",
            estimated_wait_s=wait,
            deadline_s=deadline,
        )
