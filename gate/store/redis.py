"""Redis hot-state store, shared by every replica of the gate.

Each ``execute`` is one ``MULTI/EXEC`` transaction sent in one round trip, so a batch is isolated
from every other client.  Redis transactions have no rollback: a command that fails at run time
(wrong type, overflow) does not stop the others, and the first failure is raised afterwards as
``StoreError``.  The memory store copies that behaviour so both backends agree.

Every failure, from a refused connection to a protocol error, leaves as ``gate.errors.StoreError``:
the gate treats it as "deny", and callers never need to know which backend they talk to.

This module is on the path of every gated request, so the encoder is a flat ``if`` chain over the
exact op classes with command names and options as module constants, and commands go straight
onto the pipeline's stack rather than through redis-py's per-command helper methods.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gate.errors import ConfigError, StoreError
from gate.store.base import Store
from gate.store.ops import Delete, Get, HGetAll, HIncr, Incr, Op, Put, Take

__all__ = ["RedisStore"]

# Command names as module constants: the pipeline looks response callbacks up by these names.
_GET = "GET"
_SET = "SET"
_GETDEL = "GETDEL"
_DEL = "DEL"
_INCRBY = "INCRBY"
_HINCRBY = "HINCRBY"
_HGETALL = "HGETALL"
_PEXPIRE = "PEXPIRE"
_PX = "PX"
_NX = "NX"

# Decoding markers: how an op's replies become its result.
_RAW = 0  # GET, GETDEL: the reply is the result
_COUNTER = 1  # INCRBY/HINCRBY + PEXPIRE NX: the first reply is the result, the second is skipped
_NONE = 2  # SET: the result is None
_BOOL = 3  # DEL: the result is "existed"
_HASH = 4  # HGETALL: dict[bytes, bytes] -> dict[str, int]

_ERRORS = (RedisError, OSError)
"""What redis-py can raise for a failed call; all of it becomes ``StoreError``."""


def _ms(ttl: float) -> int:
    """TTL seconds -> whole milliseconds, at least 1 (``PX 0`` is an error in Redis)."""
    if not ttl < math.inf:  # +inf and NaN
        raise StoreError(f"TTL must be finite, got {ttl!r}")
    ms = int(ttl * 1000)
    return ms if ms > 0 else 1


class RedisStore(Store):
    """A ``Store`` on a ``redis.asyncio`` client; every key is stored under ``prefix``.

    The client must return bytes (``decode_responses=False``): values are opaque bytes.  The store
    owns the client and closes it in ``close()``.
    """

    def __init__(self, client: Redis, *, prefix: str = "rg:", timeout: float | None = None) -> None:
        if client.get_connection_kwargs().get("decode_responses"):
            raise ConfigError("RedisStore needs a client with decode_responses=False")
        self._client = client
        self._prefix = prefix
        self._timeout = timeout

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "rg:",
        max_connections: int = 100,
        timeout: float = 2.0,
        retries: int = 1,
        **kwargs: Any,
    ) -> RedisStore:
        """Connect lazily to ``redis://``, ``rediss://`` or ``unix://`` ``url``.

        Defaults suit a request path that fails closed: a blocking pool (a burst waits up to
        ``timeout`` for a free connection instead of failing at once), ``timeout`` seconds for
        connecting and for each reply, and a single immediate retry, which transparently replaces
        a pooled connection the server has dropped without stalling requests behind a backoff
        when Redis is really down.  Extra ``kwargs`` go to the connection pool.
        """
        options: dict[str, Any] = {
            "socket_connect_timeout": timeout,
            # No per-reply timer: ``execute`` puts one deadline on the whole batch instead.
            "socket_timeout": None,
            "retry": Retry(NoBackoff(), retries),
            **kwargs,
        }
        try:
            pool = BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=timeout, **options
            )
        except (ValueError, TypeError) as exc:
            # Not echoing the URL: it may carry a password.
            raise ConfigError(f"invalid Redis URL: {exc}") from exc
        return cls(Redis.from_pool(pool), prefix=prefix, timeout=timeout)

    @property
    def prefix(self) -> str:
        return self._prefix

    async def execute(self, ops: Sequence[Op]) -> list[Any]:
        if not ops:
            return []
        prefix = self._prefix
        pipe = self._client.pipeline(transaction=True)
        stage = pipe.pipeline_execute_command
        # One (decoder, reply count) per op; Incr/HIncr also send a PEXPIRE whose reply we skip.
        plan: list[int] = []
        mark = plan.append
        try:
            for op in ops:
                cls = op.__class__
                if cls is Incr:
                    key = prefix + op.key
                    stage(_INCRBY, key, op.amount)
                    stage(_PEXPIRE, key, _ms(op.ttl), _NX)
                    mark(_COUNTER)
                elif cls is HIncr:
                    key = prefix + op.key
                    stage(_HINCRBY, key, op.field, op.amount)
                    stage(_PEXPIRE, key, _ms(op.ttl), _NX)
                    mark(_COUNTER)
                elif cls is Get:
                    stage(_GET, prefix + op.key)
                    mark(_RAW)
                elif cls is Take:
                    stage(_GETDEL, prefix + op.key)
                    mark(_RAW)
                elif cls is Put:
                    stage(_SET, prefix + op.key, op.value, _PX, _ms(op.ttl))
                    mark(_NONE)
                elif cls is Delete:
                    stage(_DEL, prefix + op.key)
                    mark(_BOOL)
                elif cls is HGetAll:
                    stage(_HGETALL, prefix + op.key)
                    mark(_HASH)
                else:
                    raise StoreError(f"unsupported store operation: {op!r}")
            if self._timeout is None:
                replies = await pipe.execute(raise_on_error=False)
            else:
                async with asyncio.timeout(self._timeout):
                    replies = await pipe.execute(raise_on_error=False)
        except _ERRORS as exc:
            raise StoreError(f"Redis transaction failed: {exc}") from exc
        return self._decode(ops, plan, replies)

    @staticmethod
    def _decode(ops: Sequence[Op], plan: list[int], replies: list[Any]) -> list[Any]:
        results: list[Any] = []
        append = results.append
        error: BaseException | None = None
        failed: Op | None = None
        i = 0
        for op, how in zip(ops, plan, strict=True):
            reply = replies[i]
            if how == _COUNTER:
                # A failed PEXPIRE would leave a counter that never expires: report it too.
                expire = replies[i + 1]
                if isinstance(expire, Exception) and not isinstance(reply, Exception):
                    reply = expire
                i += 2
            else:
                i += 1
            if isinstance(reply, Exception):
                if error is None:
                    error, failed = reply, op
                append(None)
            elif how <= _COUNTER:
                append(reply)
            elif how == _NONE:
                append(None)
            elif how == _BOOL:
                append(reply > 0)
            else:
                append({k.decode(): int(v) for k, v in reply.items()})
        if error is not None:
            raise StoreError(f"{failed!r} failed: {error}") from error
        return results

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except _ERRORS as exc:
            raise StoreError(f"Redis is unreachable: {exc}") from exc

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except _ERRORS as exc:
            raise StoreError(f"closing the Redis client failed: {exc}") from exc
