"""Step planning for the fast engine: which tokens of which sequences go into the next forward.

Pure Python (no torch), so the policy is tested on its own.  Every step has a token budget
(``token_budget``) and the engine has a fixed number of KV slots (one per running sequence):

- every running sequence that is decoding gets its one token (decodes hold a slot and cost one
  token each; starving them would only stretch every request's time per output token);
- the rest of the budget goes to prefill, in chunks, so a long prompt never takes a whole step
  and a new arrival's prompt is at most one step away (chunked prefill with a per-step budget);
- ``vtc``: prefill candidates, running chunks and waiting requests alike, are ordered by virtual
  time, the tenant's VTC counter (``puzzles.worker.tenants``) plus what is already ahead of it in the
  step.  A request that finds its tenant's queue empty is *owed* (``Sequence.owed``): its tenant
  was not backlogged, so VTC lifts the counter to the lowest of the other tenants with work (as
  the VTC paper does for a client whose queue was empty, even with requests running: a tenant
  that asks for less than its share must not bank the difference), and the TTFT term credits it
  one request's cost, so it goes first instead of losing the tie on arrival time.  The credit is
  bounded by one request, so the service gap between backlogged tenants stays within a
  request's cost.
- preemption where it pays: when an owed request finds every slot taken, the least-advanced
  sequence of the most-served other tenant gives its slot up, provided that tenant's counter is
  above the newcomer's credited key.  This holds whether or not the newcomer's tenant has
  requests running: a light tenant sending a request every half second nearly always has one
  still decoding, and making its next wait for a slot to free cost it up to 50 steps.
  Backlogged requests (queued behind their own tenant's) never preempt: that would trade
  recomputes for the fairness VTC's order already gives.  The victim's KV is dropped and
  recomputed when it is re-admitted (a chunked prefill is cheap next to the decode it waits
  for), its place at the head of its tenant's queue kept, and the recompute is not charged.
- layered prefill (``urgent_share``): a step that prefills an owed request's first token leaves
  only a quarter of the budget to other prefills, so the step that makes its first token is
  short; decodes are never held back.
- ``fifo``: running chunks, then waiting requests by arrival; no preemption.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from typing import Any

from puzzles.worker.tenants import TenantLedger, fair_order

POLICIES = ("vtc", "fifo")
MAX_PREEMPTIONS_PER_STEP = 4


@dataclass(eq=False, slots=True)
class Sequence:
    """One request inside the engine."""

    request_id: str
    tenant: str
    prompt: list[int]
    max_new: int
    arrival: float
    sampling: Any = None  # the engine's own per-request sampling settings
    generated: list[int] = field(default_factory=list)
    slot: int | None = None
    cached: int = 0  # tokens whose keys and values are in the slot
    charged_prompt: int = 0  # prompt tokens charged to the tenant (recomputes are not)
    reserved: int = 0  # output tokens reserved in the tenant's counter
    admitted_at: float | None = None
    first_token_at: float | None = None
    preemptions: int = 0
    order: int = 0  # arrival order, for FIFO and ties
    owed: bool = False  # arrived to its tenant's empty queue (see the module docstring)

    @property
    def length(self) -> int:
        return len(self.prompt) + len(self.generated)

    @property
    def pending(self) -> int:
        """Tokens not yet in the cache; 1 means the sequence is decoding."""
        return self.length - self.cached

    def tokens(self, start: int, count: int) -> list[int]:
        prompt = len(self.prompt)
        if start + count <= prompt:
            return self.prompt[start : start + count]
        return (self.prompt + self.generated)[start : start + count]

    def cost(self, w_in: float, w_out: float) -> float:
        """What serving the whole request adds to its tenant's counter."""
        return w_in * len(self.prompt) + w_out * self.max_new


@dataclass(frozen=True, slots=True)
class Work:
    """``count`` tokens of ``seq`` from position ``start``; ``logits``: a next token is sampled."""

    seq: Sequence
    start: int
    count: int
    logits: bool


class Batcher:
    """Plans steps; the engine thread is its only caller."""

    def __init__(
        self,
        ledger: TenantLedger,
        *,
        slots: int,
        token_budget: int,
        policy: str = "vtc",
        preemption: bool = True,
        urgent_share: float = 0.25,
        admit_batch: int = 1,
        max_defer: int = 16,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown scheduler {policy!r}; choose one of {', '.join(POLICIES)}")
        if token_budget < 1 or slots < 1:
            raise ValueError("slots and token_budget must be positive")
        self.ledger = ledger
        self.policy = policy
        self.preemption = preemption and policy == "vtc"
        self.token_budget = token_budget
        # vtc: share of the budget other tenants' prefills get in a step with a first token.
        self.urgent_share = urgent_share if policy == "vtc" else 1.0
        self.slots = slots
        self._free = list(range(slots - 1, -1, -1))
        # Admission coalescing (see ``_admit_now``): free slots gathered before a decode-only
        # step takes backlogged prefill (1: none), and the most plans a freed slot waits.
        self.admit_batch = admit_batch
        self.max_defer = max_defer
        self._plans = 0
        self._freed_at = dict.fromkeys(self._free, 0)  # free slot -> the plan it freed at
        self.running: dict[str, Sequence] = {}
        self.waiting: dict[str, deque[Sequence]] = {}
        self._load: Counter[str] = Counter()  # requests each tenant has in the engine
        self._arrivals = itertools.count()
        self.preempted = 0  # total, for /metrics and the benchmark

    # -- membership -----------------------------------------------------------------------------

    @property
    def free_slots(self) -> int:
        return len(self._free)

    def waiting_count(self) -> int:
        return sum(len(q) for q in self.waiting.values())

    def add(self, seq: Sequence) -> None:
        tenant = seq.tenant
        backlogged = None
        if not self.waiting.get(tenant):  # becomes backlogged now: VTC lifts its counter
            backlogged = [t for t, n in self._load.items() if n > 0 and t != tenant]
            seq.owed = True
        self.ledger.arrive(seq.request_id, backlogged)
        self._load[tenant] += 1
        seq.order = next(self._arrivals)
        self.waiting.setdefault(tenant, deque()).append(seq)

    def finish(self, seq: Sequence) -> None:
        """The sequence is done (or failed, or cancelled): free its slot, settle its reservation."""
        if self.running.pop(seq.request_id, None) is not None:
            self._release(seq)
        else:
            queue = self.waiting.get(seq.tenant)
            if queue is not None and seq in queue:
                queue.remove(seq)
                if not queue:
                    del self.waiting[seq.tenant]
            else:
                return  # not ours (already finished)
        self._load[seq.tenant] -= 1
        if self._load[seq.tenant] <= 0:
            del self._load[seq.tenant]
        if seq.reserved:
            self.ledger.reserve(seq.tenant, len(seq.generated) - seq.reserved)
            seq.reserved = 0

    def find(self, request_id: str) -> Sequence | None:
        seq = self.running.get(request_id)
        if seq is not None:
            return seq
        for queue in self.waiting.values():
            for candidate in queue:
                if candidate.request_id == request_id:
                    return candidate
        return None

    def _release(self, seq: Sequence) -> None:
        if seq.slot is not None:
            self._free.append(seq.slot)
            self._freed_at[seq.slot] = self._plans
            seq.slot = None
        seq.cached = 0

    def _admit(self, seq: Sequence, now: float) -> None:
        queue = self.waiting[seq.tenant]
        queue.remove(seq)
        if not queue:
            del self.waiting[seq.tenant]
        seq.slot = self._free.pop()
        del self._freed_at[seq.slot]
        seq.cached = 0
        if seq.admitted_at is None:
            seq.admitted_at = now
            seq.reserved = seq.max_new
            self.ledger.reserve(seq.tenant, seq.max_new)
        self.running[seq.request_id] = seq

    def _preempt(self, victim: Sequence) -> None:
        del self.running[victim.request_id]
        self._release(victim)
        victim.preemptions += 1
        victim.owed = False  # back at the head of its queue, it must not preempt in turn
        self.preempted += 1
        self.waiting.setdefault(victim.tenant, deque()).appendleft(victim)

    # -- planning -------------------------------------------------------------------------------

    def plan(self, now: float) -> list[Work]:
        self._plans += 1
        counters = self.ledger.counters()
        decoding = [s for s in self.running.values() if s.pending == 1]
        if len(decoding) > self.token_budget:  # only with a budget under the slot count
            decoding.sort(key=lambda s: counters.get(s.tenant, 0.0))
            decoding = decoding[: self.token_budget]
        budget = self.token_budget - len(decoding)
        work = [Work(s, s.cached, 1, True) for s in decoding]
        if budget > 0:
            work += self._prefill(now, counters, budget, bool(decoding))
            # A preempted decode is no longer running: drop its token.
            work = [w for w in work if w.seq.slot is not None]
        self._charge(work)
        return work

    def _prefill(
        self, now: float, counters: dict[str, float], budget: int, decoding: bool
    ) -> list[Work]:
        partial = [s for s in self.running.values() if s.pending > 1]
        admit = self._admit_now(bool(partial), decoding)
        candidates: list[tuple[float, Sequence]]
        if self.policy == "fifo":
            partial.sort(key=lambda s: s.order)
            ordered = sorted((s for q in self.waiting.values() for s in q), key=lambda s: s.order)
            candidates = [(0.0, s) for s in partial + ordered]
        else:
            waiting = self._fair_waiting(counters, budget)
            candidates = [(counters.get(s.tenant, 0.0), s) for s in partial] + waiting
            # Stable: a tenant's running chunk goes before its waiting requests at equal keys.
            candidates.sort(key=lambda item: item[0])
        work: list[Work] = []
        preempted = 0
        others = budget  # prefill tokens left for everything but owed first tokens
        for key, seq in candidates:
            if budget <= 0:
                break
            urgent = seq.owed and not seq.generated  # this step makes an owed first token
            if not urgent and others <= 0:
                continue
            if seq.slot is None and not (urgent or admit):
                continue
            if seq.slot is None:
                if not self._free:
                    if self.policy == "fifo":
                        break
                    if preempted >= MAX_PREEMPTIONS_PER_STEP or not self._make_room(seq, key):
                        continue
                    preempted += 1
                self._admit(seq, now)
            count = min(seq.pending, budget if urgent else min(budget, others))
            budget -= count
            if urgent and self.urgent_share < 1:
                # Layered prefill: the step that makes an owed first token carries only a
                # share of the budget for everyone else, so it ends sooner.
                others = min(others, int(self.token_budget * self.urgent_share))
            elif not urgent:
                others -= count
            work.append(Work(seq, seq.cached, count, seq.cached + count == seq.length))
        return work

    def _admit_now(self, partial: bool, decoding: bool) -> bool:
        """Whether backlogged requests may take free slots in this step.

        A step with prefill costs more than a decode-only one (on a GPU it ran eagerly, tens of
        milliseconds of launches, when this was measured; now its prefill arithmetic):
        refilling each slot the moment it frees turns every other step into a slower one.  So a step that would otherwise only decode takes
        backlogged prefill only once ``admit_batch`` slots are free or one has waited
        ``max_defer`` plans; a step that carries prefill anyway (a running chunk, an owed first
        token) admits at once, and nothing waits while nothing decodes.
        """
        if partial or not decoding or len(self._free) >= self.admit_batch:
            return True
        if any(queue[0].owed for queue in self.waiting.values()):
            return True
        oldest = min(self._freed_at.values(), default=self._plans)
        return self._plans - oldest >= self.max_defer

    def _fair_waiting(
        self, counters: dict[str, float], budget: int
    ) -> list[tuple[float, Sequence]]:
        """Waiting requests in virtual-time order with the TTFT credit, each with its key."""
        w_in, w_out = self.ledger.w_in, self.ledger.w_out
        adjusted = dict(counters)
        queues: dict[str, Seq[tuple[str, float, int]]] = {}
        by_id: dict[str, Sequence] = {}
        # Enough to fill the free slots and a few preemptions, and never more than the budget.
        limit = max(1, min(budget, self.free_slots + MAX_PREEMPTIONS_PER_STEP))
        for tenant, queue in self.waiting.items():
            entries = []
            for seq in itertools.islice(queue, limit):
                entries.append((seq.request_id, w_in * len(seq.prompt), seq.order))
                by_id[seq.request_id] = seq
            queues[tenant] = entries
            if queue[0].owed:
                adjusted[tenant] = counters.get(tenant, 0.0) - queue[0].cost(w_in, w_out)
        order = fair_order(queues, adjusted, limit)
        projected = {t: adjusted.get(t, 0.0) for t in queues}
        keyed: list[tuple[float, Sequence]] = []
        for request_id in order:
            seq = by_id[request_id]
            keyed.append((projected[seq.tenant], seq))
            projected[seq.tenant] += w_in * len(seq.prompt)
        return keyed

    def _make_room(self, seq: Sequence, key: float) -> bool:
        """Preempt one sequence for ``seq`` if that pays (see the module docstring)."""
        if not self.preemption or not seq.owed:
            return False
        counters = self.ledger.counters()
        victims = [
            s
            for s in self.running.values()
            if s.tenant != seq.tenant and counters.get(s.tenant, 0.0) > key
        ]
        if not victims:
            return False
        top = max(counters.get(s.tenant, 0.0) for s in victims)
        victim = min(
            (s for s in victims if counters.get(s.tenant, 0.0) == top),
            key=lambda s: (s.cached, -s.order),
        )
        self._preempt(victim)
        return True

    def _charge(self, work: Seq[Work]) -> None:
        """Prompt tokens are charged as they are first prefilled (recomputes are free)."""
        bills: Counter[str] = Counter()
        for item in work:
            seq = item.seq
            end = min(item.start + item.count, len(seq.prompt))
            if end > seq.charged_prompt:
                bills[seq.tenant] += end - seq.charged_prompt
                seq.charged_prompt = end
        for tenant, tokens in bills.items():
            self.ledger.charge(tenant, tokens, 0)

    def advance(self, item: Work) -> None:
        """The step ran: its tokens are in the cache."""
        item.seq.cached = item.start + item.count
