"""Token accounting for LLM calls: who used how much, per job, per tenant and per flow.

A *flow* is a (tenant, job class) pair: the unit the fair scheduler shares capacity between.  The
pool records every attempt here, failed ones included, because a backend that streamed half an
answer before dying still spent GPU time on that tenant's behalf.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

JobClass = Literal["interactive", "batch"]
Flow = tuple[str, JobClass]


@dataclass(frozen=True, slots=True)
class CallTags:
    """Who a call is for; every pool call carries one, so usage can be charged and scheduled."""

    tenant: str
    job_class: JobClass
    job_id: str | None = None
    # Longest acceptable wait for a backend slot, in seconds; beyond it the pool sheds the call.
    deadline_s: float | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Totals for one key of the ledger."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0  # successful calls
    failed_calls: int = 0  # attempts that failed (retried or not)
    estimated_calls: int = 0  # calls whose token counts are estimates (no usage from the server)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def plus(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.calls + other.calls,
            self.failed_calls + other.failed_calls,
            self.estimated_calls + other.estimated_calls,
        )


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    """A copy of the ledger at one moment; later calls do not change it."""

    by_job: dict[str, Usage]
    by_tenant: dict[str, Usage]
    by_flow: dict[Flow, Usage]

    @property
    def total(self) -> Usage:
        result = Usage()
        for usage in self.by_tenant.values():
            result = result.plus(usage)
        return result


class UsageLedger:
    """In-memory running totals.  Not thread-safe: it lives on the event loop like the pool."""

    def __init__(self) -> None:
        self._by_job: defaultdict[str, Usage] = defaultdict(Usage)
        self._by_tenant: defaultdict[str, Usage] = defaultdict(Usage)
        self._by_flow: defaultdict[Flow, Usage] = defaultdict(Usage)

    def record(
        self,
        tags: CallTags,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        ok: bool,
        estimated: bool = False,
    ) -> None:
        """Add one attempt's tokens under its job (if any), tenant and flow."""
        delta = Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            calls=int(ok),
            failed_calls=int(not ok),
            estimated_calls=int(ok and estimated),
        )
        if tags.job_id is not None:
            self._by_job[tags.job_id] = self._by_job[tags.job_id].plus(delta)
        self._by_tenant[tags.tenant] = self._by_tenant[tags.tenant].plus(delta)
        flow: Flow = (tags.tenant, tags.job_class)
        self._by_flow[flow] = self._by_flow[flow].plus(delta)

    def job(self, job_id: str) -> Usage:
        return self._by_job.get(job_id, Usage())

    def tenant(self, tenant: str) -> Usage:
        return self._by_tenant.get(tenant, Usage())

    def flow(self, tenant: str, job_class: JobClass) -> Usage:
        return self._by_flow.get((tenant, job_class), Usage())

    def snapshot(self) -> UsageSnapshot:
        return UsageSnapshot(dict(self._by_job), dict(self._by_tenant), dict(self._by_flow))
