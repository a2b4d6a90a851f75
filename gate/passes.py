"""Passes: signed, identity-bound, scoped tokens that carry a request budget.

Wire form: ``rg1.<kid>.<claims>.<signature>`` (base64url, no padding), Ed25519 over the first three
parts.  The signature proves the gate minted the pass; the budget itself is metered in the store on
every use, so a copied token cannot be spent past it.
"""

from __future__ import annotations

import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from gate.clock import Clock, system_clock
from gate.errors import PassExpired, PassInvalid, PassNotApplicable
from gate.keys import KeyRing, b64url, b64url_decode

VERSION = "rg1"
MAX_TOKEN_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class PassClaims:
    pass_id: str
    subject: str  # the client identity the pass is bound to
    scope: str  # what it opens: "http:<path prefix>" or "mcp:<tool>"
    rule: str  # hash of the rule that priced it: a rule change re-challenges
    budget: int  # requests it may pay for
    price: int  # expected solver tokens that were paid for it
    issued_at: int
    expires_at: int
    # The store epoch it was minted under (gate.epoch): a pass outliving its store's state is
    # refused.  Passes minted before epochs existed have none and are refused the same way.
    epoch: str = ""


class PassCodec:
    """Mints and verifies pass tokens; verified signatures are cached (the token is the cache key)."""

    def __init__(self, keys: KeyRing, *, clock: Clock = system_clock, cache_size: int = 65_536):
        self.keys = keys
        self.clock = clock
        self._cache: OrderedDict[str, PassClaims] = OrderedDict()
        self._cache_size = cache_size

    def mint(
        self,
        *,
        subject: str,
        scope: str,
        rule: str,
        budget: int,
        price: int,
        ttl: int,
        epoch: str = "",
    ) -> tuple[str, PassClaims]:
        now = int(self.clock())
        claims = PassClaims(
            pass_id=secrets.token_urlsafe(12),
            subject=subject,
            scope=scope,
            rule=rule,
            budget=budget,
            price=price,
            issued_at=now,
            expires_at=now + ttl,
            epoch=epoch,
        )
        # Field by field: dataclasses.asdict deep-copies, which costs more than signing.
        fields = {name: getattr(claims, name) for name in PassClaims.__slots__}
        body = b64url(json.dumps(fields, separators=(",", ":")).encode())
        head = f"{VERSION}.{self.keys.kid}.{body}"
        token = f"{head}.{b64url(self.keys.sign(head.encode()))}"
        return token, claims

    def verify(self, token: str) -> PassClaims:
        """Signature and expiry only; ``check_binding`` does identity, scope and rule."""
        claims = self._cache.get(token)
        if claims is None:
            claims = self._verify_signature(token)
            self._cache[token] = claims
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        if self.clock() >= claims.expires_at:
            raise PassExpired("pass expired")
        return claims

    def _verify_signature(self, token: str) -> PassClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise PassInvalid("pass too long")
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != VERSION:
            raise PassInvalid("malformed pass")
        version, kid, body, signature = parts
        try:
            raw_signature = b64url_decode(signature)
            self.keys.verify(kid, f"{version}.{kid}.{body}".encode(), raw_signature)
            fields = json.loads(b64url_decode(body))
            return PassClaims(**fields)
        except PassInvalid:
            raise
        except (ValueError, TypeError) as exc:
            raise PassInvalid("malformed pass") from exc


def check_binding(claims: PassClaims, *, subject: str, scope: str, rule: str) -> None:
    if claims.subject != subject:
        raise PassNotApplicable("pass is bound to another client")
    if claims.rule != rule or not scope_covers(claims.scope, scope):
        raise PassNotApplicable("pass does not cover this resource")


def scope_covers(granted: str, wanted: str) -> bool:
    """``http:/api/`` covers ``http:/api/x``; MCP tool scopes match exactly."""
    if granted == wanted:
        return True
    return granted.startswith("http:") and granted.endswith("/") and wanted.startswith(granted)
