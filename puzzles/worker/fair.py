"""Tenant-aware schedulers for transformers' continuous batching engine.

They subclass the engine's ``Scheduler`` (``transformers/generation/continuous_batching/
scheduler.py``) and reuse its ``_process_candidates``, which checks token, request and cache budgets
and allocates blocks: a scheduler only decides the order of the candidates.  ``register`` puts a
class bound to one ``TenantLedger`` into the engine's ``SCHEDULER_MAPPING`` under a fresh name, which
``ContinuousBatchingConfig.scheduler_type`` then selects.

- ``vtc``: running decodes first (they hold cache and cost one token each), then split prefills,
  then waiting requests in VTC order (``puzzles.worker.tenants.fair_order``).  When the batch is full,
  a few waiting requests of a tenant served less than every other running tenant go first, and
  the most-served tenant's decodes wait a step (``VTCScheduler._promotions``).  When the cache is full
  the engine offloads starved requests from the end of ``starved_requests``: that list is sorted so
  the most-served tenant's requests are preempted first, and a flood gives its cache back before
  a light tenant does.
- ``fifo`` and ``prefill_first``: the engine's own orders, with the same per-tenant accounting, so
  ``/queue`` and the benchmark see the same numbers whatever the policy.

Everything here runs on the engine's background thread.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from transformers.generation.continuous_batching import scheduler as engine_scheduler
from transformers.generation.continuous_batching.requests import (
    FutureRequestState,
    RequestState,
    RequestStatus,
)

from puzzles.worker.tenants import DEFAULT_TENANT, TenantLedger, fair_order

POLICIES = ("vtc", "fifo", "prefill_first")
_names = itertools.count()

ScheduleResult = tuple[list[FutureRequestState] | None, bool, int, int]


class _TenantAware(engine_scheduler.Scheduler):
    """Accounting shared by every policy: tenant load, arrival lifts, tokens charged per batch."""

    def __init__(
        self,
        cache: Any,
        safety_margin: float | None,
        max_requests_per_batch: int,
        *,
        ledger: TenantLedger,
    ) -> None:
        self.ledger = ledger  # before super().__init__, which calls reset()
        super().__init__(cache, safety_margin, max_requests_per_batch)  # type: ignore[arg-type]

    def reset(self) -> None:
        super().reset()
        self._tenant: dict[str, str] = {}
        self._reserved: dict[str, int] = {}  # output tokens reserved in the counter, per request
        self._load: Counter[str] = Counter()  # requests each tenant has in this scheduler
        self._queues: dict[str, deque[tuple[str, float, int]]] = {}
        self._arrivals = itertools.count()

    def add_waiting_request(self, state: RequestState) -> None:
        request_id = state.request_id
        tenant = self._tenant.get(request_id)
        if tenant is None:
            tenant = self._tenant[request_id] = self.ledger.tenant_of(request_id)
        backlogged = None
        if self._load[tenant] == 0:  # becomes backlogged now: VTC lifts its counter
            backlogged = [t for t, n in self._load.items() if n > 0]
        self.ledger.arrive(request_id, backlogged)
        self._load[tenant] += 1
        super().add_waiting_request(state)
        cost = self.ledger.w_in * len(state.remaining_prefill_tokens)
        self._queues.setdefault(tenant, deque()).append((request_id, cost, next(self._arrivals)))

    def finish_request(self, request_id: str) -> None:
        state = self.active_requests.get(request_id)
        super().finish_request(request_id)
        if state is not None:
            self._leave(state)

    def clear_cancelled_requests(self) -> list[RequestState]:
        cancelled = super().clear_cancelled_requests()
        for state in cancelled:
            self._leave(state)
        return cancelled

    def _leave(self, state: RequestState) -> None:
        tenant = self._tenant.pop(state.request_id, None)
        if tenant is None:
            return
        self._load[tenant] -= 1
        if self._load[tenant] <= 0:
            del self._load[tenant]
        reserved = self._reserved.pop(state.request_id, 0)
        if reserved:
            self.ledger.reserve(tenant, state.generated_len() - reserved)

    def schedule_batch(self, token_budget: int, cache_budget: int) -> ScheduleResult:
        decoding = {
            rid for rid, s in self.active_requests.items() if s.status == RequestStatus.DECODING
        }
        result = self._schedule(token_budget, cache_budget)
        if result[0]:
            self._charge(result[0], decoding)
        return result

    def _schedule(self, token_budget: int, cache_budget: int) -> ScheduleResult:
        raise NotImplementedError

    def _charge(self, batch: list[FutureRequestState], decoding: set[str]) -> None:
        bills: dict[str, list[int]] = {}
        for future in batch:
            state = future.state
            request_id = state.request_id
            bill = bills.setdefault(self._tenant.get(request_id, DEFAULT_TENANT), [0, 0, 0])
            if request_id in decoding:
                bill[1] += 1
                continue
            bill[0] += future.query_length
            bill[1] += int(future.has_new_token)
            if request_id not in self._reserved:  # admitted now
                budget = state.max_new_tokens if state.max_new_tokens is not None else 0
                self._reserved[request_id] = budget
                bill[2] += budget
        for tenant, (prompt, output, reserve) in bills.items():
            self.ledger.charge(tenant, prompt, output)
            if reserve:
                self.ledger.reserve(tenant, reserve)


class VTCScheduler(_TenantAware):
    """Virtual token counter fair queuing over tenants (see the module docstring)."""

    def __init__(
        self,
        cache: Any,
        safety_margin: float | None,
        max_requests_per_batch: int,
        *,
        ledger: TenantLedger,
    ) -> None:
        # The FIFO default: keep 15% of blocks free for decodes before admitting new prefills.
        margin = 0.15 if safety_margin is None else safety_margin
        super().__init__(cache, margin, max_requests_per_batch, ledger=ledger)

    def _schedule(self, token_budget: int, cache_budget: int) -> ScheduleResult:
        counters = self.ledger.counters()

        def level(state: RequestState) -> float:
            return counters.get(self._tenant.get(state.request_id, DEFAULT_TENANT), 0.0)

        decoding: list[RequestState] = []
        prefilling: list[RequestState] = []
        for state in self.active_requests.values():
            if state.status == RequestStatus.DECODING:
                decoding.append(state)
            elif state.status == RequestStatus.PREFILLING:
                prefilling.append(state)
        # When the batch cannot take every decode, the most-served tenant's decodes wait a step.
        decoding.sort(key=level)
        candidates: list[RequestState] = decoding + prefilling
        if not self.block_new_requests and self.waiting_requests:
            budget = self.max_requests_per_batch
            reserve = max(2, budget // 16)
            room = max(reserve, budget - len(candidates))
            order = fair_order(self._waiting_heads(room), counters, room)
            waiting = [self.waiting_requests[rid] for rid in order]
            promoted = 0
            if decoding and len(candidates) >= budget:
                promoted = self._promotions(waiting, decoding, level, reserve)
            candidates = waiting[:promoted] + candidates + waiting[promoted:]
        removed: set[str] = set()
        batch, allocation_failed, fast_path, q_tokens, kv_read = self._process_candidates(
            candidates, token_budget, cache_budget, removed
        )
        self._cleanup_waiting_queue(removed)
        if self.starved_requests:
            # The engine offloads from the end of this list: most-served tenants go first.
            # (Nothing was charged since ``counters`` was read: that happens after this step.)
            self.starved_requests.sort(key=lambda item: level(item[0]))
        if not batch and allocation_failed:
            return None, fast_path, 0, 0
        return batch, fast_path, q_tokens, kv_read

    def _promotions(
        self,
        waiting: list[RequestState],
        decoding: list[RequestState],
        level: Callable[[RequestState], float],
        reserve: int,
    ) -> int:
        """How many of the first waiting requests go ahead of a full batch of decodes.

        A full batch would make a light tenant's new request wait until a flood's request ends,
        which can take hundreds of steps when the flood's requests are long.  A waiting request
        goes first when its tenant's counter is below that of every other tenant with running
        decodes (it is the one owed service), and only while the running set exceeds the batch
        by less than ``reserve``: the decodes left out are the most-served tenant's, for a step.
        """
        spare = self.max_requests_per_batch + reserve - len(self.active_requests)
        running: dict[str, float] = {}
        for state in decoding:
            tenant = self._tenant.get(state.request_id, DEFAULT_TENANT)
            running[tenant] = level(state)
        promoted = 0
        while promoted < min(spare, len(waiting)):
            state = waiting[promoted]
            tenant = self._tenant.get(state.request_id, DEFAULT_TENANT)
            others = [value for name, value in running.items() if name != tenant]
            if not others or level(state) >= min(others):
                break
            promoted += 1
        return promoted

    def _waiting_heads(self, limit: int) -> dict[str, list[tuple[str, float, int]]]:
        """Each tenant's first ``limit`` requests still waiting, dropping the admitted ones."""
        heads: dict[str, list[tuple[str, float, int]]] = {}
        waiting = self.waiting_requests
        for tenant, queue in list(self._queues.items()):
            while queue and queue[0][0] not in waiting:
                queue.popleft()
            if not queue:
                del self._queues[tenant]
                continue
            live = heads[tenant] = []
            for entry in queue:
                if entry[0] in waiting:
                    live.append(entry)
                    if len(live) >= limit:
                        break
        return heads


class AccountedFIFO(_TenantAware, engine_scheduler.FIFOScheduler):
    """The engine's FIFO order, with per-tenant accounting."""

    def _schedule(self, token_budget: int, cache_budget: int) -> ScheduleResult:
        return engine_scheduler.FIFOScheduler.schedule_batch(self, token_budget, cache_budget)


class AccountedPrefillFirst(_TenantAware, engine_scheduler.PrefillFirstScheduler):
    """The engine's prefill-first order, with per-tenant accounting."""

    def _schedule(self, token_budget: int, cache_budget: int) -> ScheduleResult:
        return engine_scheduler.PrefillFirstScheduler.schedule_batch(
            self, token_budget, cache_budget
        )


_CLASSES: dict[str, type[_TenantAware]] = {
    "vtc": VTCScheduler,
    "fifo": AccountedFIFO,
    "prefill_first": AccountedPrefillFirst,
}


def register(policy: str, ledger: TenantLedger) -> str:
    """Make ``policy`` bound to ``ledger`` selectable by the engine; returns its ``scheduler_type``."""
    if policy not in _CLASSES:
        raise ValueError(f"unknown scheduler {policy!r}; choose one of {', '.join(POLICIES)}")
    name = f"gate-{policy}-{next(_names)}"
    # The engine only calls what it finds here with its own arguments: a partial binding the
    # ledger serves as a class.
    engine_scheduler.SCHEDULER_MAPPING[name] = functools.partial(_CLASSES[policy], ledger=ledger)  # type: ignore[assignment]
    return name


def unregister(name: str) -> None:
    engine_scheduler.SCHEDULER_MAPPING.pop(name, None)
