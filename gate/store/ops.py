"""The operations a store executes.

Hot-state work is expressed as a short list of these operations that a store runs atomically in one
round trip (``Store.execute``).  Algorithms (challenges, budgets, rates, ledgers) live in the gate
core and only ever speak in these primitives, so every backend stays small and interchangeable.

TTLs are seconds (floats allowed); a TTL applies when a key is created, and ``Put`` always resets it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Get:
    """Result: the value as ``bytes``, or ``None``."""

    key: str


@dataclass(frozen=True, slots=True)
class Put:
    """Set ``key`` to ``value`` expiring after ``ttl`` seconds.  Result: ``None``."""

    key: str
    value: bytes
    ttl: float


@dataclass(frozen=True, slots=True)
class PutNew:
    """Set ``key`` to ``value`` (expiring after ``ttl``) unless it exists.  Result: the value stored
    now, ``value`` or the one that was there; of concurrent callers all read the first one's."""

    key: str
    value: bytes
    ttl: float


@dataclass(frozen=True, slots=True)
class Take:
    """Get and delete in one step: exactly one caller ever sees a given value.  Result: bytes | None."""

    key: str


@dataclass(frozen=True, slots=True)
class Delete:
    """Result: ``True`` when the key existed."""

    key: str


@dataclass(frozen=True, slots=True)
class Incr:
    """Add ``amount`` to an integer counter, creating it at 0 with ``ttl``.  Result: the new value."""

    key: str
    amount: int = 1
    ttl: float = 60.0


@dataclass(frozen=True, slots=True)
class HIncr:
    """Add ``amount`` to one field of a hash, creating the hash with ``ttl``.  Result: the new value."""

    key: str
    field: str
    amount: int = 1
    ttl: float = 86_400.0


@dataclass(frozen=True, slots=True)
class HGetAll:
    """Result: ``dict[str, int]`` of a counter hash (empty when absent)."""

    key: str


Op = Get | Put | PutNew | Take | Delete | Incr | HIncr | HGetAll
