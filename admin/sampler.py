"""Ledger history: the totals of every client's ledger snapshotted into SQL on an interval.

The store only holds current counters; charts over time need their past.  Several admin
processes may run: a store counter per time slot elects the one that writes each sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from admin.ledgers import Totals, client_ledgers, totals
from gate.clock import Clock, system_clock
from gate.ledger import FIELDS
from gate.store import Incr, Store
from operator_state.models import LedgerSample

log = logging.getLogger("reasoning_gate.admin")


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    values: dict[str, int]  # growth of each counter since the previous sample


async def take_sample(
    engine: AsyncEngine, store: Store, interval: float, clock: Clock = system_clock
) -> Totals | None:
    """Write one sample unless another process already wrote this time slot's."""
    now = clock()
    slot = int(now // interval)
    claimed = await store.execute([Incr(f"admin:sample:{slot}", 1, max(2 * interval, 1.0))])
    if claimed[0] != 1:
        return None
    current = totals(await client_ledgers(store))
    values = current.as_dict()
    values.pop("pass_rate")
    async with engine.begin() as connection:
        await connection.execute(
            insert(LedgerSample).values(at=datetime.fromtimestamp(now, UTC), **values)
        )
    return current


async def sample_forever(
    engine: AsyncEngine, store: Store, interval: float, stop: asyncio.Event
) -> None:
    """Sample every ``interval`` seconds until ``stop`` is set.

    Stopping waits for a sample in progress instead of cancelling it: a database call cut off
    midway would leave its driver thread answering a loop that may be gone.
    """
    while not stop.is_set():
        try:
            await take_sample(engine, store, interval)
        except Exception:  # a hiccup of SQL or the store costs one point of history, no more
            log.exception("ledger sample failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def series(engine: AsyncEngine, hours: float = 24.0, limit: int = 2_000) -> list[Point]:
    """Growth per sample interval over the last ``hours`` (a counter that went down, because
    ledgers expired, counts as no growth)."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    query = (
        select(LedgerSample).where(LedgerSample.at >= since).order_by(LedgerSample.at.desc())
    ).limit(limit + 1)
    async with engine.connect() as connection:
        rows = list(reversed((await connection.execute(query)).all()))
    points: list[Point] = []
    for previous, row in pairwise(rows):
        at = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=UTC)
        points.append(
            Point(
                at,
                {name: max(0, getattr(row, name) - getattr(previous, name)) for name in FIELDS},
            )
        )
    return points
