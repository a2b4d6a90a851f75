"""The ``requestState`` the gate hands a 2026-07-28 client: sealed with the gate's key, bound to
the client, the tool and its arguments, and usable once.

A client echoes it back, so it is attacker-controlled: every claim is checked on the way in.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from gate.errors import StateInvalid
from gate.gatekeeper import Gatekeeper
from gate.sealing import Sealer
from gate.store import Put, Take
from mcp_server.toolgate.caller import Caller

_PURPOSE = "mcp-request-state"


class RequestStates:
    def __init__(self, gatekeeper: Gatekeeper) -> None:
        self._gatekeeper = gatekeeper
        self._sealer = Sealer(gatekeeper.passes.keys, _PURPOSE, clock=gatekeeper.clock)

    async def seal(self, params: dict[str, Any], caller: Caller, claims: dict[str, Any]) -> str:
        """``claims`` sealed for this call of this client; a nonce in the store makes it single-use."""
        gatekeeper = self._gatekeeper
        nonce = secrets.token_urlsafe(12)
        ttl = gatekeeper.settings.challenge_ttl
        await gatekeeper.store.execute([Put(f"mcp-state:{nonce}", b"1", ttl)])
        body = {
            **claims,
            "n": nonce,
            "sub": caller.identity_for(gatekeeper),
            "tool": params.get("name"),
            "args": _digest(params.get("arguments")),
        }
        return self._sealer.seal(body, ttl)

    async def open(
        self, raw: Any, name: str, params: dict[str, Any], caller: Caller
    ) -> dict[str, Any] | None:
        """The gate's claims from an echoed ``requestState``; refuses forged, foreign, stale or
        replayed state (``StateInvalid``)."""
        if raw is None:
            return None
        claims = self._sealer.unseal(raw)
        if claims.get("tool") != name or claims.get("args") != _digest(params.get("arguments")):
            raise StateInvalid("state belongs to another tool call")
        if claims.get("sub") != caller.identity_for(self._gatekeeper):
            raise StateInvalid("state belongs to another client")
        (used,) = await self._gatekeeper.store.execute([Take(f"mcp-state:{claims['n']}")])
        if used is None:
            raise StateInvalid("state was already used")
        return claims


def _digest(arguments: Any) -> str:
    canonical = json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
