"""Per-identity ledger in the hot-state store: what each client was asked, paid and served.

Ledger updates are store operations returned to the caller, so they ride in the same round trip as
the work they account for.
"""

from __future__ import annotations

from dataclasses import dataclass

from gate.shards import shard_tag
from gate.store import HGetAll, HIncr, Store

LEDGER_TTL = 30 * 86_400.0
FIELDS = ("issued", "solved", "failed", "tokens_paid", "served", "throttled")
# How fast a client answers: milliseconds from issue to its correct answers, summed, and answers
# sent before the solve-time floor.  Shown per client, not sampled into the charts' history.
TIMING = ("solve_ms", "early")


# Every identity that was ever challenged is a field of this counter hash (value: challenges
# issued), so the admin dashboard can list and rank clients without scanning keys.  Only the
# challenge path writes it: requests served on a pass add nothing to the hot path.
LEDGER_INDEX = "ledger-index"


def ledger_key(identity: str) -> str:
    return f"ledger:{shard_tag(identity)}:{identity}"


def enlist(identity: str) -> HIncr:
    """Count a challenge issued to ``identity`` in the index of known clients."""
    return HIncr(LEDGER_INDEX, identity, 1, LEDGER_TTL)


def bump(identity: str, field: str, amount: int = 1) -> HIncr:
    return HIncr(ledger_key(identity), field, amount, LEDGER_TTL)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    identity: str
    issued: int = 0
    solved: int = 0
    failed: int = 0
    tokens_paid: int = 0
    served: int = 0
    throttled: int = 0
    solve_ms: int = 0
    early: int = 0

    @property
    def mean_solve_seconds(self) -> float | None:
        """Mean time from issue to a correct answer (None before the first solve)."""
        return self.solve_ms / 1000 / self.solved if self.solved and self.solve_ms else None


def entry_from(identity: str, raw: dict[str, int]) -> LedgerEntry:
    """A ledger entry from the raw counter hash (missing fields read as zero)."""
    return LedgerEntry(identity, **{name: int(raw.get(name, 0)) for name in (*FIELDS, *TIMING)})


async def read_ledger(store: Store, identity: str) -> LedgerEntry:
    (raw,) = await store.execute([HGetAll(ledger_key(identity))])
    return entry_from(identity, raw)
