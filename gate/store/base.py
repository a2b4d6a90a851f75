"""The hot-state store contract shared by the memory and Redis backends."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from gate.store.ops import Delete, Get, HGetAll, HIncr, Incr, Op, Put, Take


class Store(abc.ABC):
    """Async key-value store with TTLs, single-use records, counters and counter hashes.

    ``execute`` is the one primitive: it runs a batch atomically (no other client observes a partial
    batch) in a single round trip and returns one result per operation, in order.  The helpers below
    are conveniences over it.  Backend failures raise ``gate.errors.StoreError``.
    """

    @abc.abstractmethod
    async def execute(self, ops: Sequence[Op]) -> list[Any]: ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the store must not be used afterwards."""

    async def ping(self) -> None:  # noqa: B027 - optional hook
        """Raise ``StoreError`` when the backend is unreachable."""

    async def restart_risk(self) -> str | None:
        """What a restart of the backend would give back to live passes, or ``None``.

        Losing everything is safe (the epoch marker goes too: every pass is refused as ``reset``);
        restoring an older copy is not (marker and meters come back as they were, so a pass regains
        the uses made since).  Backends that can do the latter say so here, for a start-up warning.
        """
        return None

    async def get(self, key: str) -> bytes | None:
        result: bytes | None = (await self.execute([Get(key)]))[0]
        return result

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        await self.execute([Put(key, value, ttl)])

    async def take(self, key: str) -> bytes | None:
        result: bytes | None = (await self.execute([Take(key)]))[0]
        return result

    async def delete(self, key: str) -> bool:
        result: bool = (await self.execute([Delete(key)]))[0]
        return result

    async def incr(self, key: str, amount: int = 1, ttl: float = 60.0) -> int:
        result: int = (await self.execute([Incr(key, amount, ttl)]))[0]
        return result

    async def hincr(self, key: str, field: str, amount: int = 1, ttl: float = 86_400.0) -> int:
        result: int = (await self.execute([HIncr(key, field, amount, ttl)]))[0]
        return result

    async def hgetall(self, key: str) -> dict[str, int]:
        result: dict[str, int] = (await self.execute([HGetAll(key)]))[0]
        return result
