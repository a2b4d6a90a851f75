"""In-process hot-state store: the embedded default when no Redis is configured.

It follows the Redis backend's observable behaviour exactly (the conformance suite runs against
both), including its quirks, so a deployment can move between them without surprises:

* a batch runs without yielding to the event loop, so no other task sees it half done;
* like ``MULTI/EXEC``, an operation that fails (wrong type, overflow) does not stop the rest of
  the batch; the first failure is raised as ``StoreError`` once the batch has run;
* values are ``bytes``; a counter reads back as its decimal bytes, and a ``Put`` value that is a
  decimal integer can be incremented; counters are signed 64-bit and refuse to overflow;
* TTLs are clamped to at least one millisecond and a non-finite TTL is refused.

Memory stays bounded by live keys: expired keys are dropped lazily when touched and by a small
sweep on every call, driven by a heap of expiry times.  When ``max_keys`` live keys exist, a batch
that could create another is refused (fail closed) rather than evicting state silently: evicting
a challenge or a budget would hand a client a fresh allowance.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from gate.clock import Clock, system_clock
from gate.errors import StoreError
from gate.store.base import Store
from gate.store.ops import Delete, Get, HGetAll, HIncr, Incr, Op, Put, PutNew, Take

__all__ = ["MemoryStore"]

_MIN_TTL = 0.001
"""Redis expiries have millisecond resolution; a shorter TTL would be 0 ms, which Redis refuses."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_INT_BYTES = re.compile(rb"-?[1-9][0-9]*|0")
"""The strict decimal form Redis accepts as an integer (no sign ``+``, spaces or leading zeros)."""

_SWEEP_MIN = 32
"""Expired heap entries examined per call, plus one per op, so sweeping outpaces creation."""

_WRONGTYPE = "WRONGTYPE operation against a key holding the wrong kind of value"

_Value: TypeAlias = bytes | int | dict[str, int]


class _Entry:
    """A value with its absolute expiry; mutable so counters update in place."""

    __slots__ = ("expires", "value")

    def __init__(self, value: _Value, expires: float) -> None:
        self.value = value
        self.expires = expires


class MemoryStore(Store):
    """A single-process ``Store``; state is lost on restart and not shared between workers."""

    def __init__(self, clock: Clock = system_clock, max_keys: int = 1_000_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self._max_keys = max_keys
        self._data: dict[str, _Entry] = {}
        self._heap: list[tuple[float, str]] = []
        # Dispatch by exact op class: one dict lookup per op instead of an isinstance chain.
        self._handlers: dict[type, Callable[[Any, float], Any]] = {
            Incr: self._incr,
            HIncr: self._hincr,
            Get: self._get,
            Take: self._take,
            Put: self._put,
            PutNew: self._put_new,
            Delete: self._delete,
            HGetAll: self._hgetall,
        }

    @property
    def clock(self) -> Clock:
        """The clock expiries are measured against (tests inject a ``ManualClock``)."""
        return self._clock

    def __len__(self) -> int:
        """Keys held, including expired ones not yet swept."""
        return len(self._data)

    async def execute(self, ops: Sequence[Op]) -> list[Any]:
        # Deliberately no ``await`` below: under asyncio that is what makes the batch atomic.
        now = self._clock()
        self._sweep(now, _SWEEP_MIN + len(ops))
        if len(self._data) + len(ops) > self._max_keys:
            self._check_capacity(ops, now)
        table = self._handlers
        handlers = [table.get(op.__class__) for op in ops]
        if None in handlers:
            # Refuse before applying anything, as Redis does for a command it cannot encode.
            raise StoreError(f"unsupported store operation in batch: {list(ops)!r}")
        results: list[Any] = []
        append = results.append
        error: StoreError | None = None
        for op, handler in zip(ops, handlers, strict=True):
            try:
                append(handler(op, now))  # type: ignore[misc]
            except StoreError as exc:
                append(None)
                if error is None:
                    error = exc
        if error is not None:
            raise error
        return results

    # -- one operation each ----------------------------------------------------------------------

    def _get(self, op: Get, now: float) -> bytes | None:
        entry = self._live(op.key, now)
        return None if entry is None else _readable(entry.value)

    def _take(self, op: Take, now: float) -> bytes | None:
        entry = self._live(op.key, now)
        if entry is None:
            return None
        value = _readable(entry.value)
        del self._data[op.key]
        return value

    def _put(self, op: Put, now: float) -> None:
        self._create(op.key, _as_bytes(op.value), op.ttl, now)

    def _put_new(self, op: PutNew, now: float) -> bytes:
        entry = self._live(op.key, now)
        if entry is not None:
            return _readable(entry.value)
        value = _as_bytes(op.value)
        self._create(op.key, value, op.ttl, now)
        return value

    def _delete(self, op: Delete, now: float) -> bool:
        if self._live(op.key, now) is None:
            return False
        del self._data[op.key]
        return True

    def _incr(self, op: Incr, now: float) -> int:
        entry = self._live(op.key, now)
        if entry is None:
            result = _add(0, op.amount)
            self._create(op.key, result, op.ttl, now)
            return result
        current = entry.value
        if isinstance(current, bytes):
            current = _parse_int(current)
        elif not isinstance(current, int):
            raise StoreError(_WRONGTYPE)
        entry.value = result = _add(current, op.amount)
        return result

    def _hincr(self, op: HIncr, now: float) -> int:
        entry = self._live(op.key, now)
        if entry is None:
            result = _add(0, op.amount)
            self._create(op.key, {op.field: result}, op.ttl, now)
            return result
        fields = entry.value
        if not isinstance(fields, dict):
            raise StoreError(_WRONGTYPE)
        fields[op.field] = result = _add(fields.get(op.field, 0), op.amount)
        return result

    def _hgetall(self, op: HGetAll, now: float) -> dict[str, int]:
        entry = self._live(op.key, now)
        if entry is None:
            return {}
        if not isinstance(entry.value, dict):
            raise StoreError(_WRONGTYPE)
        return dict(entry.value)

    # -- keys ------------------------------------------------------------------------------------

    def _live(self, key: str, now: float) -> _Entry | None:
        """The entry under ``key`` unless it has expired (then it is dropped: lazy expiry)."""
        entry = self._data.get(key)
        if entry is not None and entry.expires <= now:
            del self._data[key]
            return None
        return entry

    def _create(self, key: str, value: _Value, ttl: float, now: float) -> None:
        if not ttl < math.inf:  # also catches NaN
            raise StoreError(f"TTL must be finite, got {ttl!r}")
        expires = now + (ttl if ttl > _MIN_TTL else _MIN_TTL)
        self._data[key] = _Entry(value, expires)
        heap = self._heap
        heapq.heappush(heap, (expires, key))
        # A key re-put many times leaves stale heap entries; rebuild before they outnumber keys.
        if len(heap) > 2 * len(self._data) + 1024:
            self._heap = heap = [(e.expires, k) for k, e in self._data.items()]
            heapq.heapify(heap)

    # -- expiry and capacity ---------------------------------------------------------------------

    def _sweep(self, now: float, budget: float) -> None:
        """Drop up to ``budget`` expired keys, earliest first (stale heap entries count too)."""
        heap = self._heap
        data = self._data
        while heap and heap[0][0] <= now and budget > 0:
            expires, key = heapq.heappop(heap)
            entry = data.get(key)
            if entry is not None and entry.expires == expires:
                del data[key]
            budget -= 1

    def _check_capacity(self, ops: Sequence[Op], now: float) -> None:
        """Refuse the whole batch, before touching anything, if it could exceed ``max_keys``.

        Counts every creating op on an absent key as a new key (ignoring deletes earlier in the
        batch): slightly pessimistic, which is the safe side for a gate.
        """
        self._sweep(now, math.inf)
        data = self._data
        new: set[str] = set()
        for op in ops:
            cls = op.__class__
            if (cls is Put or cls is PutNew or cls is Incr or cls is HIncr) and op.key not in data:
                new.add(op.key)
        if len(data) + len(new) > self._max_keys:
            raise StoreError(
                f"memory store is full ({len(data)} of max_keys={self._max_keys} keys live); "
                "refusing to evict state"
            )


def _add(current: int, amount: int) -> int:
    """``current + amount`` within Redis's signed 64-bit range, else ``StoreError``."""
    if not _INT64_MIN <= amount <= _INT64_MAX:
        raise StoreError("value is not an integer or out of range")
    result = current + amount
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise StoreError("increment or decrement would overflow")
    return result


def _readable(value: _Value) -> bytes:
    """What ``GET`` returns: bytes as stored, a counter as its decimal bytes, a hash is an error."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return b"%d" % value
    raise StoreError(_WRONGTYPE)


def _parse_int(value: bytes) -> int:
    if _INT_BYTES.fullmatch(value) is None:
        raise StoreError("value is not an integer or out of range")
    number = int(value)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise StoreError("value is not an integer or out of range")
    return number


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise StoreError(f"store values must be bytes, got {type(value).__name__}")
