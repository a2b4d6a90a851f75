"""Redis hot-state store, shared by every replica of the gate.

Batches are group-committed: every ``execute`` call made while the event loop is busy joins one
queue, and the queue leaves as a single ``EVALSHA`` of ``lua/batches.lua`` in one round trip.  Each
batch is atomic (a Lua script runs without interleaving), and a loaded gate pays one redis-py call
per loop turn instead of one per request, which is what keeps the per-request cost of metering a
pass small.  Like MULTI/EXEC, an op that fails at run time (wrong type, overflow) does not stop the
rest of its batch; the first failure is raised afterwards as ``StoreError``.  The memory store
copies that behaviour so both backends agree.

Every failure, from a refused connection to a protocol error, leaves as ``gate.errors.StoreError``:
the gate treats it as "deny", and callers never need to know which backend they talk to.

Redis Cluster is ``gate.store.cluster``: it splits a batch by hash slot and hands each part to the
``RedisStore`` of the slot's node (``cluster_node``), whose flush then sends one script call per
slot, pipelined on one connection: still one round trip per flush.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import Any, TypedDict

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from gate.errors import ConfigError, StoreError
from gate.store.base import Store
from gate.store.ops import Delete, Get, HGetAll, HIncr, Incr, Op, Put, PutNew, Take

__all__ = ["DEFAULT_TIMEOUT", "PoolOptions", "RedisStore"]

DEFAULT_TIMEOUT = 2.0
"""Seconds one batch may take, pool wait and connecting included (``RedisStore.from_url``)."""


class PoolOptions(TypedDict, total=False):
    """The connection options of ``RedisStore.from_url`` (its defaults apply to those left out);
    a cluster store hands them to each node's store."""

    max_connections: int
    timeout: float
    retries: int


_SCRIPT = files("gate.store").joinpath("lua/batches.lua").read_text(encoding="utf-8")

_ERRORS = (RedisError, OSError)
"""What redis-py can raise for a failed call; all of it becomes ``StoreError``."""

_Pending = tuple[Sequence[Op], list[bytes], list[bytes], int, "asyncio.Future[list[Any]]"]
"""A batch waiting for the flush: its ops, keys and arguments (RESP-encoded), its hash slot
(cluster nodes only, else 0) and its caller's future."""


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _number(value: int) -> bytes:
    return _bulk(b"%d" % value)


_OP_GET, _OP_TAKE, _OP_PUT, _OP_DELETE = _bulk(b"g"), _bulk(b"t"), _bulk(b"p"), _bulk(b"d")
_OP_INCR, _OP_HINCR, _OP_HGETALL = _bulk(b"i"), _bulk(b"h"), _bulk(b"a")
_OP_PUT_NEW = _bulk(b"n")


def _ms(ttl: float) -> int:
    """TTL seconds -> whole milliseconds, at least 1 (``PX 0`` is an error in Redis)."""
    if not ttl < math.inf:  # +inf and NaN
        raise StoreError(f"TTL must be finite, got {ttl!r}")
    ms = int(ttl * 1000)
    return ms if ms > 0 else 1


class RedisStore(Store):
    """A ``Store`` on a ``redis.asyncio`` client; every key is stored under ``prefix``.

    The client must return bytes (``decode_responses=False``): values are opaque bytes.  The store
    owns the client and closes it in ``close()``.  ``timeout`` (seconds) bounds each ``execute``
    and ``ping`` as a whole, so a hung server turns into a prompt ``StoreError`` (deny).
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "rg:",
        timeout: float | None = None,
        cluster_node: bool = False,
    ) -> None:
        connection_kwargs: Callable[[], dict[str, Any]] = client.get_connection_kwargs
        if connection_kwargs().get("decode_responses"):
            raise ConfigError("RedisStore needs a client with decode_responses=False")
        self._client = client
        self._prefix = prefix
        self._timeout = timeout
        self._prefix_bytes = prefix.encode()
        self._cluster_node = cluster_node
        self._sha_bulk = _bulk(hashlib.sha1(_SCRIPT.encode()).hexdigest().encode())
        self._pending: list[_Pending] = []
        self._inflight: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "rg:",
        max_connections: int = 100,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 1,
        cluster_node: bool = False,
        **kwargs: Any,
    ) -> RedisStore:
        """Connect lazily to ``redis://``, ``rediss://`` or ``unix://`` ``url``.

        Defaults suit a request path that fails closed: a blocking pool (a burst waits for a free
        connection instead of failing at once), one ``timeout`` deadline per batch covering the
        pool wait, connecting and every reply (cheaper than redis-py's timer per reply), and a
        single immediate retry, which transparently replaces a pooled connection the server has
        dropped without stalling requests behind a backoff when Redis is really down.  Extra
        ``kwargs`` go to the connection pool.  ``cluster_node``: the server is one node of a Redis
        Cluster, reached through ``gate.store.cluster``.
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
        return cls(Redis.from_pool(pool), prefix=prefix, timeout=timeout, cluster_node=cluster_node)

    @property
    def prefix(self) -> str:
        return self._prefix

    async def execute(self, ops: Sequence[Op]) -> list[Any]:
        if not ops:
            return []
        # Keys and arguments are encoded here, straight to RESP bulk strings: the flush then
        # only joins bytes, whatever the size of the group.
        keys: list[bytes] = []
        args: list[bytes] = [_bulk(str(len(ops)).encode())]
        prefix = self._prefix_bytes
        for op in ops:
            keys.append(_bulk(prefix + op.key.encode()))
            if isinstance(op, Incr):
                args += (_OP_INCR, _number(op.amount), _number(_ms(op.ttl)))
            elif isinstance(op, Get):
                args.append(_OP_GET)
            elif isinstance(op, HIncr):
                args += (
                    _OP_HINCR,
                    _bulk(op.field.encode()),
                    _number(op.amount),
                    _number(_ms(op.ttl)),
                )
            elif isinstance(op, Take):
                args.append(_OP_TAKE)
            elif isinstance(op, Put):
                args += (_OP_PUT, _bulk(bytes(op.value)), _number(_ms(op.ttl)))
            elif isinstance(op, PutNew):
                args += (_OP_PUT_NEW, _bulk(bytes(op.value)), _number(_ms(op.ttl)))
            elif isinstance(op, Delete):
                args.append(_OP_DELETE)
            elif isinstance(op, HGetAll):
                args.append(_OP_HGETALL)
            else:
                raise StoreError(f"unsupported store operation: {op!r}")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        slot = key_slot(prefix + ops[0].key.encode()) if self._cluster_node else 0
        self._pending.append((ops, keys, args, slot, future))
        if len(self._pending) == 1:
            # Flush after the loop has run every callback that is ready now: requests that arrive
            # together share one round trip.
            asyncio.get_running_loop().call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        group, self._pending = self._pending, []
        task = asyncio.ensure_future(self._send(group))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _send(self, group: list[_Pending]) -> None:
        calls = self._by_slot(group) if self._cluster_node else [group]
        try:
            async with asyncio.timeout(self._timeout):
                replies = await self._evalsha([self._pack(call) for call in calls])
        except (*_ERRORS, TimeoutError) as exc:
            error = StoreError(f"Redis batch failed: {exc!r}")
            error.__cause__ = exc
            for *_, future in group:
                if not future.done():
                    future.set_exception(error)
            return
        except BaseException as exc:  # cancelled or a bug: never leave a caller waiting
            for *_, future in group:
                if not future.done():
                    future.set_exception(StoreError(f"Redis batch aborted: {exc!r}"))
            raise
        for call, reply in zip(calls, replies, strict=True):
            if isinstance(reply, Exception):  # refused whole (on a cluster node: MOVED, ASK)
                error = StoreError(f"Redis batch failed: {reply!r}")
                error.__cause__ = reply
                for *_, future in call:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (ops, *_, future), batch_reply in zip(call, reply, strict=True):
                if future.done():
                    continue
                try:
                    future.set_result(_decode(ops, batch_reply))
                except StoreError as exc:
                    future.set_exception(exc)

    @staticmethod
    def _by_slot(group: list[_Pending]) -> list[list[_Pending]]:
        """A cluster node's group split into one script call per hash slot: Redis Cluster
        refuses a script whose keys span slots, and one slot's call can be redirected alone."""
        calls: dict[int, list[_Pending]] = {}
        for pending in group:
            calls.setdefault(pending[3], []).append(pending)
        return list(calls.values())

    def _pack(self, call: list[_Pending]) -> bytes:
        """One EVALSHA of the batch script over ``call``'s batches, packed for the wire.

        The command goes out pre-packed: redis-py's per-argument encoding would cost more than
        everything else the gate does per request.
        """
        keys: list[bytes] = []
        args: list[bytes] = []
        for _, batch_keys, batch_args, _, _ in call:
            keys += batch_keys
            args += batch_args
        head = b"*%d\r\n$7\r\nEVALSHA\r\n%s%s" % (
            3 + len(keys) + len(args),
            self._sha_bulk,
            _number(len(keys)),
        )
        return b"".join([head, *keys, *args])

    async def _evalsha(self, packed: list[bytes]) -> list[Any]:
        """Send the ``packed`` script calls pipelined on one pooled connection; their replies, an
        error reply as its exception.  Loads the script once if Redis lacks it."""
        pool = self._client.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            try:
                return await self._run(connection, packed)
            except RedisConnectionError:
                # A pooled connection to a server that has since restarted fails on first use,
                # before that server (which never saw the connection) ran anything: one fresh
                # connection retries the batch, so a restart costs one failed batch per live
                # connection no longer.  A second failure is the server really being away.
                await connection.disconnect()
                return await self._run(connection, packed)
        except BaseException:
            await connection.disconnect()  # a half-read reply must never reach the next caller
            raise
        finally:
            await pool.release(connection)

    async def _run(self, connection: Any, packed: list[bytes]) -> list[Any]:
        await connection.send_packed_command(packed, check_health=False)
        replies = [await _reply(connection) for _ in packed]
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:  # a restarted or flushed server: load the script and send those again
            await connection.send_command("SCRIPT", "LOAD", _SCRIPT)
            await connection.read_response()
            await connection.send_packed_command([packed[i] for i in missing], check_health=False)
            for i in missing:
                replies[i] = await _reply(connection)
        return replies

    async def ping(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._client.ping()
        except _ERRORS as exc:
            raise StoreError(f"Redis is unreachable: {exc}") from exc

    async def restart_risk(self) -> str | None:
        """Snapshots (RDB) without an append-only file restore stale meters after a restart."""
        try:
            async with asyncio.timeout(self._timeout):
                info = await self._client.info("persistence")
                if info.get("aof_enabled") == 1:
                    return None
                try:
                    config = await self._client.config_get("save")
                    save = next(iter(config.values()), "")  # the one entry asked for
                except ResponseError:  # CONFIG disabled (managed Redis): assume snapshots
                    save = "unknown"
        except _ERRORS as exc:
            raise StoreError(f"Redis is unreachable: {exc}") from exc
        if not save:
            return None  # no persistence: a restart loses the epoch marker with the meters
        return (
            "Redis keeps snapshots (RDB) but no append-only file: after a restart every pass "
            "gets back the uses made since the last snapshot; run Redis with appendonly yes "
            "(docs/deploy.md, Restarts and persistence)"
        )

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except _ERRORS as exc:
            raise StoreError(f"closing the Redis client failed: {exc}") from exc


async def _reply(connection: Any) -> Any:
    """The next reply on ``connection``; an error reply is returned, not raised, so the replies
    after it are still read."""
    try:
        return await connection.read_response()
    except ResponseError as exc:
        return exc


def _decode(ops: Sequence[Op], reply: list[Any]) -> list[Any]:
    error, *values = reply
    if error:
        raise StoreError(
            f"store batch failed: {error.decode() if isinstance(error, bytes) else error}"
        )
    results: list[Any] = []
    for op, value in zip(ops, values, strict=True):
        cls = op.__class__
        if cls is Get or cls is Take or cls is PutNew or cls is Incr or cls is HIncr:
            results.append(value)
        elif cls is Put:
            results.append(None)
        elif cls is Delete:
            results.append(value > 0)
        else:  # HGetAll: a flat field/value list
            pairs = value or []
            results.append({pairs[i].decode(): int(pairs[i + 1]) for i in range(0, len(pairs), 2)})
    return results
