"""Pass revocation per identity: every pass an identity was minted before a moment stops working.

Passes are signed and stateless, so revocation is a "not before" time per identity in the store.
The gatekeeper reads it in the same batch that meters a pass (one more ``Get`` in a round trip it
makes anyway), so revocation costs the request path no extra round trip and reaches every replica
at once.

Passes carry whole-second issue times: a pass minted in the same second as the revocation (before
or after it) is revoked too, which errs on the closed side.
"""

from __future__ import annotations

import math

from gate.passes import PassClaims
from gate.shards import shard_tag
from gate.store import Get, Put, Store

# Longer than any pass should live; a pass_ttl beyond it would outlive its revocation.
REVOCATION_TTL = 400 * 86_400.0


def revocation_key(identity: str) -> str:
    return f"revoked:{shard_tag(identity)}:{identity}"


def read_revocation(identity: str) -> Get:
    """The op whose result ``is_revoked`` interprets."""
    return Get(revocation_key(identity))


async def revoke_identity_passes(
    store: Store, identity: str, *, now: float, keep_for: float = REVOCATION_TTL
) -> None:
    """Revoke every pass minted for ``identity`` up to ``now`` (seconds since the epoch)."""
    if not identity:
        raise ValueError("revoking passes needs an identity")
    await store.execute([Put(revocation_key(identity), repr(float(now)).encode(), keep_for)])


def is_revoked(claims: PassClaims, raw: bytes | None) -> bool:
    """Whether ``claims`` predates the stored revocation ``raw`` (fails closed on junk)."""
    if raw is None:
        return False
    try:
        revoked_at = float(raw)
    except ValueError:
        return True
    if not math.isfinite(revoked_at):
        return True
    return claims.issued_at <= revoked_at
