"""What the fair scheduler keeps per request and per flow: the ``Ticket`` a request waits with,
each flow's state (counter, queue, token figures, recent waits and service), the copy of it that
snapshots show (``FlowStats``), and Jain's fairness index over flows.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from puzzles.llm.usage import Flow, JobClass

__all__ = ["FlowState", "FlowStats", "Ticket", "jain_index"]

_WAIT_SAMPLES = 512


class Ticket:
    """One request waiting for (then holding) a backend slot."""

    __slots__ = (
        "deadline_at",
        "dispatched_at",
        "enqueued_at",
        "flow",
        "payload",
        "seq",
    )

    def __init__(
        self, flow: Flow, seq: int, enqueued_at: float, deadline_at: float | None, payload: Any
    ) -> None:
        self.flow = flow
        self.seq = seq
        self.enqueued_at = enqueued_at
        self.deadline_at = deadline_at
        self.dispatched_at: float | None = None
        self.payload = payload  # the driver's own data (the pool keeps its waiter here)

    def __repr__(self) -> str:
        return f"Ticket({self.flow[0]!r}, {self.flow[1]!r}, seq={self.seq})"


@dataclass(frozen=True, slots=True)
class FlowStats:
    """A copy of one flow's figures."""

    tenant: str
    job_class: JobClass
    weight: float
    queued: int
    in_flight: int
    counter: float  # normalised service plus lifts: what the scheduler orders by
    service: float  # weighted tokens received (not normalised, no lifts)
    prompt_tokens: int
    output_tokens: int
    wait_p50_s: float | None
    wait_max_s: float | None
    dispatched: int


class FlowState:
    """What the scheduler keeps for one flow: its counter, queue, figures and recent service."""

    __slots__ = (
        "counter",
        "dispatched",
        "in_flight",
        "output_tokens",
        "prompt_tokens",
        "queue",
        "recent",
        "service",
        "waits",
        "weight",
    )

    def __init__(self, weight: float) -> None:
        self.weight = weight
        self.counter = 0.0
        self.service = 0.0
        self.prompt_tokens = 0
        self.output_tokens = 0
        self.in_flight = 0
        self.dispatched = 0
        self.queue: deque[Ticket] = deque()
        self.waits: deque[float] = deque(maxlen=_WAIT_SAMPLES)
        self.recent: deque[tuple[float, float]] = deque()  # (time, weighted tokens) in the window

    def stats(self, flow: Flow) -> FlowStats:
        """A copy of the figures, for snapshots and tests."""
        waits = sorted(self.waits)
        return FlowStats(
            tenant=flow[0],
            job_class=flow[1],
            weight=self.weight,
            queued=len(self.queue),
            in_flight=self.in_flight,
            counter=self.counter,
            service=self.service,
            prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens,
            wait_p50_s=waits[len(waits) // 2] if waits else None,
            wait_max_s=waits[-1] if waits else None,
            dispatched=self.dispatched,
        )


def jain_index(values: list[float]) -> float | None:
    """Jain's fairness index, (sum x)^2 / (n * sum x^2): 1 when equal, 1/n when one takes all."""
    if len(values) < 2:
        return None
    total = sum(values)
    squares = sum(value * value for value in values)
    if squares == 0:
        return 1.0
    return total * total / (len(values) * squares)
