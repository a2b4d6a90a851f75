"""Which hot-state keys live together: every key about one client carries its shard's hash tag.

Redis Cluster runs a script on one node, and keeps keys in one hash slot only when they share a
hash tag (the text between a key's first ``{`` and the next ``}``).  The batch that must be atomic
is about one client: the round trip that meters a pass reads and counts its rate, its pass meter,
its ledger, its revocation time and the store's epoch marker together.  So each of those keys
carries the tag of the client's shard, and there is one epoch marker per shard (gate.epoch): a
cluster node that loses its data loses its shards' markers along with their meters, and exactly
those shards' passes are refused as ``reset``.

Shards rather than the identity itself as the tag: an epoch marker lives for years, and one per
shard keeps their number fixed however many clients come by, while 1024 tags still spread over
every node of a cluster.  The tag comes before any client-chosen text in a key, so an identity
holding ``{`` cannot move a key to another slot.  On one Redis server or the memory store a tag
is ordinary key text.
"""

from __future__ import annotations

import zlib

SHARDS = 1024


def shard_tag(identity: str) -> str:
    """The hash tag (``{s17}``) shared by every key about ``identity``."""
    return f"{{s{zlib.crc32(identity.encode('utf-8', 'backslashreplace')) % SHARDS}}}"
