"""Reading the per-client ledgers out of the hot store: client rows, totals, top payers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

from gate.ledger import FIELDS, LEDGER_INDEX, LedgerEntry, entry_from, ledger_key
from gate.store import HGetAll, Store

# Ledgers read per page view; an index larger than this shows the clients challenged most.
MAX_CLIENTS = 2_000


@dataclass(frozen=True, slots=True)
class Totals:
    identities: int = 0
    issued: int = 0
    solved: int = 0
    failed: int = 0
    tokens_paid: int = 0
    served: int = 0
    throttled: int = 0

    @property
    def pass_rate(self) -> float | None:
        """Share of issued challenges that were solved (None before any was issued)."""
        return self.solved / self.issued if self.issued else None

    def as_dict(self) -> dict[str, int | float | None]:
        values: dict[str, int | float | None] = {
            item.name: getattr(self, item.name) for item in fields(self)
        }
        values["pass_rate"] = self.pass_rate
        return values


async def known_identities(store: Store, limit: int = MAX_CLIENTS) -> list[str]:
    """Identities in the ledger index, the most challenged first."""
    (index,) = await store.execute([HGetAll(LEDGER_INDEX)])
    ranked = sorted(index.items(), key=lambda item: (-item[1], item[0]))
    return [identity for identity, _ in ranked[:limit]]


async def read_ledgers(store: Store, identities: Sequence[str]) -> list[LedgerEntry]:
    """The ledgers of ``identities`` in one store round trip (missing ones read as zeros)."""
    if not identities:
        return []
    raws = await store.execute([HGetAll(ledger_key(identity)) for identity in identities])
    return [entry_from(identity, raw) for identity, raw in zip(identities, raws, strict=True)]


async def client_ledgers(store: Store, extra: Iterable[str] = ()) -> list[LedgerEntry]:
    """Every indexed client's ledger (plus ``extra`` identities), the biggest payers first."""
    identities = await known_identities(store)
    seen = set(identities)
    identities += [identity for identity in extra if identity not in seen]
    entries = await read_ledgers(store, identities)
    return sorted(entries, key=lambda entry: (-entry.tokens_paid, -entry.issued, entry.identity))


def fastest(entries: Iterable[LedgerEntry], limit: int = 10) -> list[LedgerEntry]:
    """The clients that answer fastest on average (solvers that may not be using a model)."""
    timed = [entry for entry in entries if entry.mean_solve_seconds is not None]
    return sorted(timed, key=lambda entry: (entry.mean_solve_seconds, entry.identity))[:limit]


def totals(entries: Iterable[LedgerEntry]) -> Totals:
    sums = dict.fromkeys(FIELDS, 0)
    count = 0
    for entry in entries:
        count += 1
        for name in FIELDS:
            sums[name] += getattr(entry, name)
    return Totals(identities=count, **sums)
