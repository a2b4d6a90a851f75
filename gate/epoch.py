"""The store's epoch: passes minted before the hot state was lost stop working.

Budgets, revocations and challenges live in the store.  Redis restarted without persistence
(or flushed, or a memory store's process restarted) forgets every pass's meter while the passes
themselves, signed and stateless, stay valid: each would get its whole budget back, and revoked
ones would work again.  So the store holds a marker, a random value written when absent, and
every pass carries the marker it was minted under.  A pass whose marker is not the one in the
store is refused (reason ``reset``), and its holder pays again, like after expiry: losing the
marker is how a lost store shows itself, and it is read in the round trip that meters the pass.

Whichever request first finds the marker gone writes a new one (``PutNew``: of concurrent
writers every caller reads the first one's), so replicas agree on the new epoch at once.

There is one marker per client shard (gate.shards), kept next to the shard's meters: on Redis
Cluster a node that loses its data loses the markers of exactly the shards whose meters it lost.
A pass carries the marker of its subject's shard.
"""

from __future__ import annotations

import itertools
import os
import secrets

from gate.shards import shard_tag
from gate.store import PutNew, Store

# Much longer than any pass lives; when it lapses, passes of the old epoch re-challenge once.
EPOCH_TTL = 10 * 365 * 86_400.0


def epoch_key(identity: str) -> str:
    """The key of the epoch marker of ``identity``'s shard."""
    return f"epoch:{shard_tag(identity)}"


class _Proposals:
    """Values a ``PutNew`` of the marker offers: each one new, so a marker written again after a
    reset never equals one passes were minted under before it.  A random prefix per process and
    a counter make them unique at the cost of a counter step, not a read of the system's random
    source on every paid request (the offer is sent every time, written only when absent).  A
    forked child draws a prefix of its own, or parent and child would offer the same values."""

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = secrets.token_urlsafe(12)
        self._counter = itertools.count()

    def __call__(self) -> bytes:
        return f"{self._prefix}{next(self._counter):x}".encode("ascii")


_new_epoch = _Proposals()


def read_epoch(identity: str) -> PutNew:
    """The op whose result is the epoch of ``identity``'s shard (creating one if it has none)."""
    return read_marker(epoch_key(identity))


def read_marker(key: str) -> PutNew:
    """``read_epoch`` for a marker whose key (``epoch_key``) the caller already holds."""
    return PutNew(key, _new_epoch(), EPOCH_TTL)


def epoch_of(raw: bytes | None) -> str:
    """The epoch text of ``read_epoch``'s result ("" for junk: matches no pass)."""
    if raw is None:
        return ""
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return ""


async def current_epoch(store: Store, identity: str) -> str:
    """The epoch a pass for ``identity`` must carry, for minting one outside
    ``ChallengeService`` (tests, benchmarks)."""
    (raw,) = await store.execute([read_epoch(identity)])
    return epoch_of(raw)
