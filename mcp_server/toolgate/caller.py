"""Who is calling a tool: the network of an HTTP client (as over HTTP, so passes work across
both), or the one client a stdio server has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gate.gatekeeper import Gatekeeper, Visitor

STDIO_IDENTITY = "mcp:stdio"  # a stdio server has exactly one client: the process that spawned it


@dataclass(frozen=True, slots=True)
class Caller:
    identity: str
    peer: str | None
    forwarded_for: tuple[str, ...]

    def visitor(self, tokens: tuple[str, ...] = ()) -> Visitor:
        return Visitor(
            path="",
            peer=self.peer,
            forwarded_for=self.forwarded_for,
            tokens=tokens,
            identity=None if self.peer else self.identity,
        )

    def identity_for(self, gatekeeper: Gatekeeper) -> str:
        """HTTP clients are their network, as over HTTP, so passes work across both."""
        return gatekeeper.identity(self.visitor())


def caller_of(ctx: Any) -> Caller:
    """The caller of the request in ``ctx`` (an MCP server middleware context)."""
    request = getattr(ctx, "request", None)
    client = getattr(request, "client", None)
    peer = getattr(client, "host", None) if client is not None else None
    headers = getattr(request, "headers", None)
    forwarded = (
        tuple(headers.getlist("x-forwarded-for"))
        if headers is not None and hasattr(headers, "getlist")
        else ()
    )
    return Caller(identity=STDIO_IDENTITY, peer=peer, forwarded_for=forwarded)
