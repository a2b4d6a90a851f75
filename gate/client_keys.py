"""The store keys of one client, derived once per client rather than once per request.

A paid request meters its pass in one round trip (gate.gatekeeper): the client's rate counter,
the pass's meter, the ledger's ``served`` count, the revocation time and the shard's epoch
marker, every key under the client's shard tag (gate.shards).  Hashing the identity into its
shard and formatting those keys cost as much as the rest of the decision on the memory store, and
they are the same on every request of a client, so ``ClientKeys.of`` keeps them (bounded LRU).
The ops that never change (the revocation read, one request counted served) are kept built.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from gate.epoch import epoch_key
from gate.ledger import bump
from gate.revocation import read_revocation
from gate.shards import shard_tag
from gate.store import Get, HIncr

__all__ = ["ClientKeys", "meter_key"]


def meter_key(subject: str, pass_id: str, tag: str | None = None) -> str:
    """A pass's use counter, in its subject's shard (``tag``: that shard's, when known)."""
    return f"pass:{tag or shard_tag(subject)}:{pass_id}:used"


@dataclass(frozen=True, slots=True)
class ClientKeys:
    subject: str
    tag: str
    rate: str  # the rate counter's prefix; one key per window slot follows it
    epoch: str
    revocation: Get
    served: HIncr  # one request counted in the ledger

    @staticmethod
    @functools.lru_cache(maxsize=65_536)
    def of(subject: str) -> ClientKeys:
        tag = shard_tag(subject)
        return ClientKeys(
            subject=subject,
            tag=tag,
            rate=f"rate:{tag}:{subject}",
            epoch=epoch_key(subject),
            revocation=read_revocation(subject),
            served=bump(subject, "served"),
        )

    def meter(self, pass_id: str) -> str:
        return meter_key(self.subject, pass_id, self.tag)
