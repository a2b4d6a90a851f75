"""Fair queuing of LLM requests across flows with virtual token counters (VTC).

A *flow* is a (tenant, job class) pair.  Each flow has a virtual counter: the service it has
received, ``input_weight * prompt tokens + output_weight * output tokens``, divided by its
tenant's weight.  The scheduler is a plain data structure with an injected clock and no asyncio;
the pool drives it (``submit`` when a call arrives, ``pop`` whenever a backend slot is free,
``charge`` as tokens stream, ``finish`` when the attempt ends).

Which request goes next (``pop``):

1. *Band.*  Interactive requests go ahead of batch ones, except that while both bands have
   requests waiting, batch gets at least ``batch_floor`` of the dispatches, so a steady stream of
   interactive work can slow a batch job but never stop it.
2. *Flow.*  Within the band, the waiting flow with the lowest counter; ties go to the flow with
   fewer requests running (a newcomer lifted to the lowest counter goes first), then to the one
   that has waited longest.  A flow that becomes backlogged (its queue goes from empty to non-empty)
   is first *lifted* to the lowest counter among the band's backlogged flows (or, when none is,
   to the counter of the flow that left the backlog last), so idling never banks credit that
   would later let it starve the others.
3. *Request.*  FIFO within the flow.

Guarantee (the property tests check it): two flows of one band that stay backlogged over an
interval receive normalised service within ``2 * (K + 1) * U`` of each other, where ``U`` is the
largest normalised cost of one request and ``K`` the number of requests that can be in flight at
once (their tokens are charged after dispatch, as they stream).  Dispatch order never idles a
slot while anything waits (work conservation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from itertools import count
from typing import Any

from puzzles.llm.flows import FlowState, FlowStats, Ticket, jain_index
from puzzles.llm.usage import Flow, JobClass

__all__ = ["BANDS", "FairScheduler"]

BANDS: tuple[JobClass, ...] = ("interactive", "batch")  # priority order
# Service times average over this many recent attempts: long enough to smooth one odd request,
# short enough to follow a backend slowing down under load.
_SERVICE_EWMA = 0.1


class FairScheduler:
    def __init__(
        self,
        *,
        weights: Mapping[str, float] | None = None,
        default_weight: float = 1.0,
        input_weight: float = 1.0,
        output_weight: float = 1.0,
        batch_floor: float = 0.1,
        clock: Callable[[], float],
        window_s: float = 10.0,
        fifo: bool = False,
        burst: float = 0.0,
    ) -> None:
        """``fifo=True`` dispatches in arrival order across all flows and bands (the baseline the
        benchmark compares against); accounting and figures stay the same.

        ``burst`` is the credit, in weighted tokens, that a flow under its share may keep: on a
        lift it lands up to ``burst / weight`` below the lowest backlogged counter, so a light
        tenant's short burst is served at once instead of waiting for the flood to catch up.  It
        widens the fairness bound by that much; 0 is strict VTC."""
        for name, value in (("input_weight", input_weight), ("output_weight", output_weight)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0.0 <= batch_floor <= 1.0:
            raise ValueError(f"batch_floor must be within [0, 1], got {batch_floor!r}")
        self._weights = dict(weights or {})
        for tenant, weight in [*self._weights.items(), ("(default)", default_weight)]:
            if not (math.isfinite(weight) and weight > 0):
                raise ValueError(f"weight of {tenant!r} must be a finite number > 0")
        self._default_weight = default_weight
        self.input_weight = input_weight
        self.output_weight = output_weight
        self.batch_floor = batch_floor
        self._clock = clock
        self._window_s = window_s
        self._flows: dict[Flow, FlowState] = {}
        self._seq = count()
        self._last_left: dict[JobClass, float] = {band: 0.0 for band in BANDS}
        # Dispatches made while both bands had work waiting; reset when that contention ends.
        self._contended = 0
        self._contended_batch = 0
        self.mean_service_s: float | None = None
        self.fifo = fifo
        if not (math.isfinite(burst) and burst >= 0):
            raise ValueError(f"burst must be a finite number >= 0, got {burst!r}")
        self.burst = burst

    # -- the driver's calls --------------------------------------------------------------------

    def weight(self, tenant: str) -> float:
        return self._weights.get(tenant, self._default_weight)

    def submit(
        self,
        tenant: str,
        job_class: JobClass,
        *,
        deadline_at: float | None = None,
        payload: Any = None,
    ) -> Ticket:
        """Queue a request at the back of its flow."""
        if job_class not in BANDS:
            raise ValueError(f"unknown job class {job_class!r} (known: {', '.join(BANDS)})")
        flow: Flow = (tenant, job_class)
        state = self._flow(flow)
        if not state.queue:
            self._lift(flow, state)
        ticket = Ticket(flow, next(self._seq), self._clock(), deadline_at, payload)
        state.queue.append(ticket)
        return ticket

    def pop(self) -> Ticket | None:
        """The next request to dispatch, now marked in flight; ``None`` when nothing waits."""
        if self.fifo:
            waiting = [state for state in self._flows.values() if state.queue]
            if not waiting:
                return None
            state = min(waiting, key=lambda state: state.queue[0].seq)
        else:
            band = self._pick_band()
            if band is None:
                return None
            state = min(
                (state for flow, state in self._flows.items() if flow[1] == band and state.queue),
                key=lambda state: (state.counter, state.in_flight, state.queue[0].seq),
            )
        return self._take(state)

    def pop_sparse(self, slots: int) -> Ticket | None:
        """The request of a *sparse* flow, the least served of them first; ``None`` when there
        is none.  Sparse: only this one request waits, and the flow holds fewer than its fair
        share of ``slots`` (the pool's caps split evenly among the flows with work waiting or
        running).  Like FQ-CoDel's new-flow queue: the pool offers these its headroom above the
        caps, so a tenant arriving in a pool others saturate starts at once instead of waiting
        for a slot to free.  A flood never qualifies (it always has a queue).  FIFO has no such
        notion and always answers ``None``."""
        if self.fifo:
            return None
        active = sum(1 for state in self._flows.values() if state.queue or state.in_flight)
        if not active:
            return None
        share = slots / active
        now = self._clock()
        best: tuple[int, float, float, int] | None = None
        chosen: FlowState | None = None
        for flow, state in self._flows.items():
            if len(state.queue) != 1 or state.in_flight >= share:
                continue
            key = (
                BANDS.index(flow[1]),
                self._recent(state, now),
                state.counter,
                state.queue[0].seq,
            )
            if best is None or key < best:
                best, chosen = key, state
        return None if chosen is None else self._take(chosen)

    def drop(self, ticket: Ticket) -> None:
        """Undo ``pop`` for a request that will not run after all (its caller has gone)."""
        state = self._flows[ticket.flow]
        state.in_flight -= 1
        state.dispatched -= 1
        if state.waits:
            state.waits.pop()

    def cancel(self, ticket: Ticket) -> bool:
        """Withdraw a request that is still queued (its caller gave up); ``False`` if it was not."""
        state = self._flows[ticket.flow]
        try:
            state.queue.remove(ticket)
        except ValueError:
            return False
        if not state.queue:
            self._last_left[ticket.flow[1]] = state.counter
        return True

    def charge(self, flow: Flow, *, prompt_tokens: int = 0, output_tokens: int = 0) -> float:
        """Add tokens served to ``flow`` (negative amounts reconcile an over-estimate); returns
        the weighted amount charged."""
        state = self._flow(flow)
        amount = self.input_weight * prompt_tokens + self.output_weight * output_tokens
        state.prompt_tokens += prompt_tokens
        state.output_tokens += output_tokens
        state.service += amount
        state.counter += amount / state.weight
        now = self._clock()
        state.recent.append((now, amount))
        self._trim(state, now)
        return amount

    def finish(self, ticket: Ticket, *, service_s: float | None = None) -> None:
        """The dispatched request has left its backend slot (done, failed or cancelled)."""
        state = self._flows[ticket.flow]
        state.in_flight -= 1
        if service_s is not None and service_s >= 0:
            if self.mean_service_s is None:
                self.mean_service_s = service_s
            else:
                self.mean_service_s += _SERVICE_EWMA * (service_s - self.mean_service_s)

    # -- estimates and figures -----------------------------------------------------------------

    def estimated_wait(
        self, tenant: str, job_class: JobClass, *, capacity: int, free: int
    ) -> float:
        """Seconds a request submitted now would likely wait for a slot.

        Fair order interleaves flows, so what is ahead of a new request is its own flow's queue
        plus, from each other flow of the band, at most as many as that plus one.  Batch work
        only gets ``batch_floor`` of the dispatches while interactive work waits.
        """
        state = self._flows.get((tenant, job_class))
        own = len(state.queue) if state else 0
        ahead = own + sum(
            min(len(other.queue), own + 1)
            for flow, other in self._flows.items()
            if flow[1] == job_class and flow != (tenant, job_class)
        )
        if ahead == 0 and free > 0:
            return 0.0
        if self.mean_service_s is None or capacity <= 0:
            return 0.0  # nothing measured yet: no basis to refuse anyone
        share = 1.0
        if job_class == "batch" and self._band_waiting("interactive"):
            share = max(self.batch_floor, 1e-3)
        return (ahead + 1) * self.mean_service_s / (capacity * share)

    def queued(self, job_class: JobClass | None = None) -> int:
        return sum(
            len(state.queue)
            for flow, state in self._flows.items()
            if job_class is None or flow[1] == job_class
        )

    def stats(self) -> list[FlowStats]:
        return [state.stats(flow) for flow, state in sorted(self._flows.items())]

    def figures(self, flow: Flow) -> tuple[int, int, float]:
        """(queued, in flight, service) of one flow: the cheap subset the metrics refresh."""
        state = self._flows.get(flow)
        if state is None:
            return 0, 0, 0.0
        return len(state.queue), state.in_flight, state.service

    def counters(self) -> dict[Flow, float]:
        return {flow: state.counter for flow, state in self._flows.items()}

    def backlogged(self) -> set[Flow]:
        return {flow for flow, state in self._flows.items() if state.queue}

    def jain(self) -> float | None:
        """Jain's index of weight-normalised service over the last window among the flows that
        are backlogged now; ``None`` with fewer than two of them."""
        now = self._clock()
        shares = [self._recent(state, now) for state in self._flows.values() if state.queue]
        return jain_index(shares)

    # -- internals -----------------------------------------------------------------------------

    def _take(self, state: FlowState) -> Ticket:
        ticket = state.queue.popleft()
        if not state.queue:
            self._last_left[ticket.flow[1]] = state.counter
        now = self._clock()
        ticket.dispatched_at = now
        state.in_flight += 1
        state.dispatched += 1
        state.waits.append(now - ticket.enqueued_at)
        return ticket

    def _flow(self, flow: Flow) -> FlowState:
        state = self._flows.get(flow)
        if state is None:
            state = self._flows[flow] = FlowState(self.weight(flow[0]))
        return state

    def _lift(self, flow: Flow, state: FlowState) -> None:
        band = flow[1]
        waiting = [s.counter for f, s in self._flows.items() if f[1] == band and s.queue]
        floor = min(waiting) if waiting else self._last_left[band]
        state.counter = max(state.counter, floor - self.burst / state.weight)

    def _band_waiting(self, band: JobClass) -> bool:
        return any(state.queue for flow, state in self._flows.items() if flow[1] == band)

    def _pick_band(self) -> JobClass | None:
        interactive = self._band_waiting("interactive")
        batch = self._band_waiting("batch")
        if not (interactive and batch):
            self._contended = self._contended_batch = 0
            return "interactive" if interactive else "batch" if batch else None
        self._contended += 1
        if self._contended_batch < self.batch_floor * self._contended:
            self._contended_batch += 1
            return "batch"
        return "interactive"

    def _trim(self, state: FlowState, now: float) -> None:
        while state.recent and state.recent[0][0] < now - self._window_s:
            state.recent.popleft()

    def _recent(self, state: FlowState, now: float) -> float:
        """The flow's weight-normalised service over the last window."""
        self._trim(state, now)
        return sum(amount for _, amount in state.recent) / state.weight
