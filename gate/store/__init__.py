"""Hot-state storage: one small contract (``Store`` + ops), a memory and a Redis backend.

``open_store`` picks the backend from a URL so deployment is configuration, not code.
``RedisStore`` (one server) and ``RedisClusterStore`` are imported on first use, so the embedded
(memory) path never loads redis-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gate.clock import Clock, system_clock
from gate.errors import ConfigError
from gate.store.base import Store
from gate.store.memory import MemoryStore
from gate.store.ops import Delete, Get, HGetAll, HIncr, Incr, Op, Put, PutNew, Take

if TYPE_CHECKING:
    from gate.store.cluster import RedisClusterStore
    from gate.store.redis import RedisStore

__all__ = [
    "Delete",
    "Get",
    "HGetAll",
    "HIncr",
    "Incr",
    "MemoryStore",
    "Op",
    "Put",
    "PutNew",
    "RedisClusterStore",
    "RedisStore",
    "Store",
    "Take",
    "open_store",
]

_REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
_CLUSTER_SCHEMES = frozenset({"redis+cluster", "rediss+cluster"})


def open_store(url: str | None, *, clock: Clock = system_clock) -> Store:
    """Build the store named by ``url``.

    ``None`` or ``memory://`` gives a ``MemoryStore`` on ``clock``; ``redis://``, ``rediss://`` and
    ``unix://`` give a ``RedisStore`` (which keeps time on the Redis server, so ``clock`` does not
    apply); ``redis+cluster://`` and ``rediss+cluster://`` (any node of the cluster) give a
    ``RedisClusterStore``.  Anything else is a ``ConfigError``, raised at start-up rather than on
    a request.
    """
    if url is None:
        return MemoryStore(clock=clock)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        if parts.netloc or parts.path or parts.query or parts.fragment:
            raise ConfigError("store URL: memory:// takes no host, path or options")
        return MemoryStore(clock=clock)
    if scheme in _REDIS_SCHEMES:
        from gate.store.redis import RedisStore

        return RedisStore.from_url(url)
    if scheme in _CLUSTER_SCHEMES:
        from gate.store.cluster import RedisClusterStore

        return RedisClusterStore(url)
    # The URL itself stays out of the message: it may carry a password.
    shown = f"{parts.scheme}://" if parts.scheme else "a URL without a scheme"
    raise ConfigError(
        f"unsupported store URL ({shown}): expected memory://, redis://, rediss://, unix://, "
        "redis+cluster:// or rediss+cluster://"
    )


def __getattr__(name: str) -> Any:
    if name == "RedisStore":
        from gate.store.redis import RedisStore

        return RedisStore
    if name == "RedisClusterStore":
        from gate.store.cluster import RedisClusterStore

        return RedisClusterStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
