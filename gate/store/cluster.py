"""Redis Cluster hot-state store: each batch goes to the nodes that own its keys.

Every key about one client carries its shard's hash tag (gate.shards), so the batch that must be
atomic (a pass's meter with the client's rate, ledger, revocation and epoch) lives in one slot and
runs as one script on one node.  A batch whose keys live in several slots is split: each slot's
part runs as one atomic script on its node and the parts run concurrently.  Such a batch is atomic
per slot, not as a whole, which no gate invariant needs: the batches that span slots pair
independent counters (a challenge record and the solver's epoch, a ledger and the index of
clients, per-clue serve counts).  Each part joins its node's group commit (one ``RedisStore`` per
primary), which sends one script call per slot pipelined on one connection, so a loaded gate
still pays one round trip per node per loop turn, however many clients share it.

``RedisCluster`` (redis.asyncio) finds which primary owns which slot and reloads that map; the
calls themselves take ``RedisStore``'s pre-packed path.  A batch answered ``MOVED`` or ``ASK`` (its
slot moved or is moving) did not run, so the map is reloaded and the batch sent once more; a second
refusal, or any other failure (a node down during a failover), is a ``StoreError``: deny, as on one
server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Unpack
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import AskError, RedisError

from gate.errors import ConfigError, StoreError
from gate.store.base import Store
from gate.store.ops import Op
from gate.store.redis import DEFAULT_TIMEOUT, PoolOptions, RedisStore

__all__ = ["CLUSTER_SCHEMES", "RedisClusterStore"]

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""Store URL schemes naming a cluster, and the scheme its nodes are reached with."""

_RELOAD_EVERY = 1.0
"""Seconds between slot-map reloads caused by failures other than MOVED/ASK: a node that is down
fails every batch sent to it, and each must not cost a round of CLUSTER SLOTS."""


class RedisClusterStore(Store):
    """A ``Store`` over a Redis Cluster reached from ``url`` (``redis+cluster://host:port``, any
    node; ``rediss+cluster://`` for TLS).  ``prefix`` and the ``options`` (``timeout``,
    ``max_connections`` per node, ``retries``) mean what they mean for ``RedisStore.from_url``,
    which each node's store is made by.  The prefix must hold no hash
    tag (``{``/``}``): one would put every key in one slot."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "rg:",
        **options: Unpack[PoolOptions],
    ) -> None:
        parts = urlsplit(url)
        scheme = CLUSTER_SCHEMES.get(parts.scheme.lower())
        if scheme is None:
            raise ConfigError(
                "a cluster store URL starts with redis+cluster:// or rediss+cluster://"
            )
        if parts.path not in ("", "/", "/0"):
            raise ConfigError("Redis Cluster has one database: the store URL takes no /db")
        if "{" in prefix or "}" in prefix:
            raise ConfigError("a cluster store's key prefix must not hold a hash tag ({ or })")
        self._node_url = urlunsplit((scheme, parts.netloc, "", parts.query, ""))
        self._prefix = prefix
        self._prefix_bytes = prefix.encode()
        timeout = options.get("timeout", DEFAULT_TIMEOUT)
        self._timeout = timeout
        self._options = options
        try:
            self._cluster = RedisCluster.from_url(
                self._node_url, socket_connect_timeout=timeout, socket_timeout=timeout
            )
        except (ValueError, TypeError, RedisError) as exc:
            raise ConfigError(f"invalid Redis Cluster URL: {exc}") from exc
        self._nodes: dict[str, RedisStore] = {}
        self._ready = False
        self._reloaded = 0.0

    @property
    def prefix(self) -> str:
        return self._prefix

    async def execute(self, ops: Sequence[Op]) -> list[Any]:
        if not ops:
            return []
        if not self._ready:
            await self._reload(force=True)
        prefix = self._prefix_bytes
        parts: dict[int, list[int]] = {}
        for index, op in enumerate(ops):
            parts.setdefault(key_slot(prefix + op.key.encode()), []).append(index)
        if len(parts) == 1:
            (slot,) = parts
            return await self._run(slot, ops)
        slots = list(parts)
        outcomes = await asyncio.gather(
            *(self._run(slot, [ops[i] for i in parts[slot]]) for slot in slots),
            return_exceptions=True,
        )
        results: list[Any] = [None] * len(ops)
        for slot, outcome in zip(slots, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                raise outcome  # the other slots' parts are applied, as a failing op's batch is
            for index, value in zip(parts[slot], outcome, strict=True):
                results[index] = value
        return results

    async def _run(self, slot: int, ops: Sequence[Op]) -> list[Any]:
        """Run ``ops`` (all in ``slot``) on the slot's primary, once more after a redirect."""
        for attempt in (1, 2):
            try:
                node = self._cluster.nodes_manager.get_node_from_slot(slot)
            except RedisError as exc:  # no node covers the slot
                raise StoreError(f"Redis Cluster cannot place a key: {exc}") from exc
            try:
                return await self._nodes[self._store_for(node)].execute(ops)
            except StoreError as exc:
                if exc.__cause__ is None:  # an op failed on a node that answered: map is fine
                    raise
                # A redirected call never ran, so sending it again cannot apply it twice.
                moved = isinstance(exc.__cause__, AskError)  # MovedError is an AskError
                await self._reload(force=moved)
                if not moved or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _store_for(self, node: ClusterNode) -> str:
        if node.name not in self._nodes:
            url = urlsplit(self._node_url)
            userinfo = url.netloc.rpartition("@")[0]
            host = f"[{node.host}]" if ":" in node.host else node.host
            netloc = f"{userinfo}@{host}:{node.port}" if userinfo else f"{host}:{node.port}"
            self._nodes[node.name] = RedisStore.from_url(
                urlunsplit((url.scheme, netloc, "", url.query, "")),
                prefix=self._prefix,
                cluster_node=True,
                **self._options,
            )
        return node.name

    async def _reload(self, *, force: bool) -> None:
        """Load the slot map (again); without ``force`` at most once per ``_RELOAD_EVERY``."""
        now = time.monotonic()
        if not force and now - self._reloaded < _RELOAD_EVERY:
            return
        self._reloaded = now
        try:
            async with asyncio.timeout(self._timeout):
                if self._ready:
                    await self._cluster.nodes_manager.initialize()
                else:
                    await self._cluster.initialize()
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreError(f"Redis Cluster is unreachable: {exc!r}") from exc
        self._ready = True

    async def ping(self) -> None:
        if not self._ready:
            await self._reload(force=True)
        for node in self._cluster.get_primaries():
            await self._nodes[self._store_for(node)].ping()

    async def restart_risk(self) -> str | None:
        if not self._ready:
            await self._reload(force=True)
        for node in self._cluster.get_primaries():
            if (risk := await self._nodes[self._store_for(node)].restart_risk()) is not None:
                return f"{node.host}:{node.port}: {risk}"
        return None

    async def close(self) -> None:
        stores, self._nodes = list(self._nodes.values()), {}
        for store in stores:
            await store.close()
        try:
            await self._cluster.aclose()
        except (RedisError, OSError) as exc:
            raise StoreError(f"closing the Redis Cluster client failed: {exc}") from exc
