"""The LLM pool's state as plain JSON: what the admin dashboard reads.

A running pool (the gateway, or a ``gate puzzles ...`` command) publishes its snapshot into the hot
store every few seconds with a short TTL, so the dashboard, which runs in another process, sees
every live pool and forgets one that stopped without having to be told.

Shape (all numbers are plain floats/ints so the JSON is stable)::

    {"name": str, "at": float (unix time), "jain": float | None,
     "backends": [{"name", "url", "kind": "openai" | "gate-worker", "healthy": bool,
                   "in_flight": int, "cap": int, "queue": <worker /queue JSON> | None}],
     "flows": [{"tenant", "job_class", "weight": float, "queued": int, "in_flight": int,
                "service": float, "prompt_tokens": int, "output_tokens": int,
                "wait_p50_s": float | None, "wait_max_s": float | None}]}

Storage uses only the store contract's existing ops: the snapshot is a ``Put`` under
``llm:pool:<name>`` (TTL ``SNAPSHOT_TTL_S``) and the name is a field of the counter hash
``llm:pools``, which serves as the index; names whose snapshot has expired are skipped on read.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gate.errors import StoreError
from gate.store.base import Store
from gate.store.ops import Get, HGetAll, HIncr, Put

if TYPE_CHECKING:
    from puzzles.llm.pool import LLMPool

__all__ = [
    "INDEX_KEY",
    "SNAPSHOT_TTL_S",
    "pool_snapshot",
    "publish_every",
    "publish_snapshot",
    "read_pool_snapshots",
    "snapshot_key",
]

SNAPSHOT_TTL_S = 30.0
PUBLISH_INTERVAL_S = 5.0
INDEX_KEY = "llm:pools"
# The index only lists names; a day is long enough that a pool publishing every few seconds
# re-creates it long before it matters, and short enough that names of retired pools fade away.
_INDEX_TTL_S = 86_400.0
_log = logging.getLogger(__name__)


def snapshot_key(name: str) -> str:
    return f"llm:pool:{name}"


def pool_snapshot(pool: LLMPool) -> dict[str, Any]:
    """The pool's current backends and flows (see the module docstring for the shape)."""
    return pool.snapshot()


async def publish_snapshot(store: Store, snapshot: dict[str, Any]) -> None:
    """Write ``snapshot`` under its pool's name (TTL ``SNAPSHOT_TTL_S``) and list the name."""
    name = str(snapshot["name"])
    body = json.dumps(snapshot, separators=(",", ":"), allow_nan=False).encode()
    await store.execute(
        [
            Put(snapshot_key(name), body, SNAPSHOT_TTL_S),
            HIncr(INDEX_KEY, name, 1, _INDEX_TTL_S),
        ]
    )


async def read_pool_snapshots(store: Store) -> list[dict[str, Any]]:
    """Every live snapshot, sorted by pool name; expired or unreadable ones are skipped."""
    names = sorted((await store.execute([HGetAll(INDEX_KEY)]))[0])
    if not names:
        return []
    bodies = await store.execute([Get(snapshot_key(name)) for name in names])
    snapshots: list[dict[str, Any]] = []
    for body in bodies:
        if body is None:
            continue
        try:
            snapshot = json.loads(body)
        except ValueError:
            continue  # written by something else under our key: not ours to show
        if isinstance(snapshot, dict):
            snapshots.append(snapshot)
    return snapshots


async def publish_every(
    pools: Sequence[LLMPool], store: Store, interval: float = PUBLISH_INTERVAL_S
) -> None:
    """Publish every pool's snapshot every ``interval`` seconds until cancelled.  A store that
    fails is logged and retried next time: the dashboard's view must never stop the work."""
    while True:
        for pool in pools:
            try:
                await publish_snapshot(store, pool_snapshot(pool))
            except (StoreError, ValueError) as exc:  # ValueError: a worker sent NaN in /queue
                _log.warning("could not publish LLM pool %r snapshot: %s", pool.name, exc)
        await asyncio.sleep(interval)
