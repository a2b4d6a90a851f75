"""Per-tenant accounting and the virtual token counter (VTC) order, free of any engine.

The engine's scheduler (``puzzles.worker.fair``) runs on the engine's background thread and calls
``charge`` for every token it puts in a batch; the HTTP side opens and closes requests and reads
``snapshot`` for ``/queue`` and ``/metrics``.  One lock guards everything: each call is a few
dictionary operations, so contention is negligible next to a forward pass.

VTC (Sheng et al., "Fairness in Serving Large Language Models", OSDI 2024): every tenant has a
counter of the weighted tokens it has been served (``w_in`` per prompt token, ``w_out`` per generated
token).  New work is admitted from the tenant with the lowest counter, and a tenant that becomes
backlogged is first lifted to the lowest counter among the backlogged ones, so idle time is never
banked as credit to flood with later.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT_TENANT = "default"
# Tenants come from a request field: past this many distinct names, new ones share one bucket,
# so neither memory nor the /metrics label set grows without bound.
MAX_TENANTS = 1024
OVERFLOW_TENANT = "other"
DEFAULT_W_IN = 1.0
DEFAULT_W_OUT = 2.0  # a generated token costs a full forward step; a prompt token a slice of one


@dataclass(slots=True)
class TenantStats:
    counter: float = 0.0  # VTC's virtual counter: prompt service, reserved output, lifts
    service: float = 0.0  # weighted tokens actually served, never lifted
    prompt_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class TenantView:
    running: int
    waiting: int
    service: float
    prompt_tokens: int
    output_tokens: int


@dataclass(slots=True)
class _Open:
    tenant: str
    admitted: bool = False  # the scheduler has seen it once: later re-queues are no new arrival


@dataclass(slots=True)
class TenantLedger:
    w_in: float = DEFAULT_W_IN
    w_out: float = DEFAULT_W_OUT
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _open: dict[str, _Open] = field(default_factory=dict, repr=False)
    _stats: dict[str, TenantStats] = field(default_factory=dict, repr=False)

    def open(self, request_id: str, tenant: str) -> str:
        """A request is about to be handed to the engine; returns the tenant it is counted under."""
        with self._lock:
            if tenant not in self._stats and len(self._stats) >= MAX_TENANTS:
                tenant = OVERFLOW_TENANT
            self._open[request_id] = _Open(tenant)
            self._stats.setdefault(tenant, TenantStats())
            return tenant

    def close(self, request_id: str) -> None:
        """The request finished, failed or was cancelled: it no longer counts as running or waiting."""
        with self._lock:
            self._open.pop(request_id, None)

    def tenant_of(self, request_id: str) -> str:
        with self._lock:
            entry = self._open.get(request_id)
        return entry.tenant if entry is not None else DEFAULT_TENANT

    def arrive(self, request_id: str, backlogged: Iterable[str] | None) -> None:
        """The scheduler received a request.

        ``backlogged`` is None when the request's tenant is already backlogged (the transformers
        schedulers: it has work in the scheduler; the fast engine's planner: it has requests
        waiting), else the other tenants with work: on a request's first arrival its tenant is
        lifted to their lowest counter.  Re-queues after a preemption are no arrival and lift
        nothing.
        """
        with self._lock:
            entry = self._open.get(request_id)
            if entry is None or entry.admitted:
                return
            entry.admitted = True
            if backlogged is None:
                return
            stats = self._stats.setdefault(entry.tenant, TenantStats())
            others = [self._stats[t].counter for t in backlogged if t in self._stats]
            if others:
                stats.counter = max(stats.counter, min(others))
            else:
                # Nobody else waits: start level with the most-served tenant, so credit from an
                # idle period cannot be spent later against tenants who were working meanwhile.
                stats.counter = max(s.counter for s in self._stats.values())

    def charge(self, tenant: str, prompt_tokens: int, output_tokens: int) -> None:
        """Tokens served.  Output tokens reach the counter through ``reserve``, not here."""
        with self._lock:
            stats = self._stats.setdefault(tenant, TenantStats())
            stats.counter += self.w_in * prompt_tokens
            stats.service += self.w_in * prompt_tokens + self.w_out * output_tokens
            stats.prompt_tokens += prompt_tokens
            stats.output_tokens += output_tokens

    def reserve(self, tenant: str, output_tokens: int) -> None:
        """Move ``output_tokens`` of future output into the counter (negative: give them back).

        Admission reserves a request's whole ``max_tokens`` and its end returns what it did not
        generate.  Charging output only as it is decoded would let one tenant get a full batch
        admitted at one counter value and then be owed nothing for all that committed work: the
        service gap would grow with the batch size instead of staying within one request.
        """
        with self._lock:
            self._stats.setdefault(tenant, TenantStats()).counter += self.w_out * output_tokens

    def counters(self) -> dict[str, float]:
        with self._lock:
            return {t: s.counter for t, s in self._stats.items()}

    def snapshot(self, running_ids: Iterable[str]) -> dict[str, TenantView]:
        """Per-tenant figures; ``running_ids`` are the requests the engine holds in its batch."""
        running = set(running_ids)
        with self._lock:
            counts: dict[str, list[int]] = {t: [0, 0] for t in self._stats}
            for request_id, entry in self._open.items():
                counts[entry.tenant][0 if request_id in running else 1] += 1
            return {
                t: TenantView(
                    running=counts[t][0],
                    waiting=counts[t][1],
                    service=s.service,
                    prompt_tokens=s.prompt_tokens,
                    output_tokens=s.output_tokens,
                )
                for t, s in self._stats.items()
            }


def fair_order(
    queues: Mapping[str, Sequence[tuple[str, float, int]]], counters: dict[str, float], limit: int
) -> list[str]:
    """Order waiting requests for admission: lowest projected counter first, at most ``limit``.

    ``queues`` maps each tenant to its waiting ``(request_id, cost, arrival)`` in arrival order;
    ``cost`` is what admitting the request adds to its tenant's counter (its prompt, weighted).
    Each tenant keeps its own order; between tenants the one whose counter, plus what is already
    ahead of it in this order, is lowest goes next; ties go to the earlier arrival.
    """
    projected = {t: counters.get(t, 0.0) for t in queues}
    heads = dict.fromkeys(queues, 0)
    live = [t for t in queues if queues[t]]
    order: list[str] = []
    while live and len(order) < limit:
        tenant = min(live, key=lambda t: (projected[t], queues[t][heads[t]][2]))
        request_id, cost, _ = queues[tenant][heads[tenant]]
        heads[tenant] += 1
        projected[tenant] += cost
        order.append(request_id)
        if heads[tenant] >= len(queues[tenant]):
            live.remove(tenant)
    return order
