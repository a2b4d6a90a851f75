"""Sealed state: small signed claims a client must echo back unchanged (MCP ``request_state``).

``rs1.<kid>.<claims>.<Ed25519 signature>``.  Whatever a client echoes is attacker-controlled; the
signature proves the gate wrote it, ``purpose`` keeps a token minted for one use out of another,
and ``exp`` bounds replay.  Single use is the caller's business (a nonce taken from the store).
"""

from __future__ import annotations

import json
from typing import Any

from gate.clock import Clock, system_clock
from gate.errors import StateInvalid
from gate.keys import KeyRing, b64url, b64url_decode

VERSION = "rs1"
MAX_LENGTH = 8_192


class Sealer:
    def __init__(self, keys: KeyRing, purpose: str, *, clock: Clock = system_clock) -> None:
        self.keys = keys
        self.purpose = purpose
        self.clock = clock

    def seal(self, claims: dict[str, Any], ttl: float) -> str:
        body = {**claims, "pur": self.purpose, "exp": int(self.clock() + ttl)}
        encoded = b64url(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        head = f"{VERSION}.{self.keys.kid}.{encoded}"
        return f"{head}.{b64url(self.keys.sign(head.encode()))}"

    def unseal(self, token: object) -> dict[str, Any]:
        if not isinstance(token, str) or len(token) > MAX_LENGTH:
            raise StateInvalid("malformed state")
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != VERSION:
            raise StateInvalid("malformed state")
        version, kid, body, signature = parts
        try:
            self.keys.verify(kid, f"{version}.{kid}.{body}".encode(), b64url_decode(signature))
            claims = json.loads(b64url_decode(body))
        except StateInvalid:
            raise
        except Exception as exc:  # a bad signature, bad base64 or bad JSON all mean "not ours"
            raise StateInvalid("state was not issued by this gate") from exc
        if not isinstance(claims, dict) or claims.get("pur") != self.purpose:
            raise StateInvalid("state was issued for another purpose")
        if not isinstance(claims.get("exp"), int) or self.clock() >= claims["exp"]:
            raise StateInvalid("state expired")
        return claims
