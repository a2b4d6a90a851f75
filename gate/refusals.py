"""What a refusal says, for every way in.

A ``Deny`` or a ``Throttle`` becomes one ``Refusal``: its error code, HTTP status, message, wait and
price.  The HTTP middleware renders it as a page, JSON or text; the MCP ToolGate as a tool error.
The codes and the sentences are decided here once, so the two ways in cannot drift apart; each only
says how it names itself (``Wording``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gate.gatekeeper import Deny, Throttle


@dataclass(frozen=True, slots=True)
class Wording:
    """How a way in names its operator and what it guards."""

    owner: str  # whose operator blocks: "site", "server"
    denied: str  # the sentence for a resource the policy closes
    rate: str  # how the client's pace is named: "Your request rate puts", "Too many calls: "
    limit: str  # whose limit the price passed: "this site's limit", "the limit"


HTTP = Wording(
    owner="site",
    denied="Access to this resource is not allowed.",
    rate="Your request rate puts the price at",
    limit="this site's limit",
)


def tool_wording(tool: str) -> Wording:
    return Wording(
        owner="server",
        denied=f"The tool {tool!r} is not available.",
        rate="Too many calls: the price is now",
        limit="the limit",
    )


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str  # blocked, denied, rate_limited (docs/protocol.md, docs/mcp.md)
    status: int  # the HTTP status: 403 for a closed door, 429 for a pace
    title: str
    message: str
    retry_after: int | None = None
    price: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    @property
    def fields(self) -> dict[str, Any]:
        """The machine-readable extras beside ``error`` and ``message``."""
        if self.retry_after is None:
            return {}
        return {"retry_after": self.retry_after, "price": self.price}


def refusal(decision: Deny | Throttle, wording: Wording = HTTP) -> Refusal:
    if isinstance(decision, Throttle):
        return Refusal(
            "rate_limited",
            429,
            "Too many requests",
            f"{wording.rate} {decision.price} solver tokens, above {wording.limit}. "
            f"Retry after {decision.retry_after} seconds.",
            retry_after=decision.retry_after,
            price=decision.price,
        )
    if decision.reason == "blocked":
        return Refusal(
            "blocked", 403, "Forbidden", f"The {wording.owner}'s operator has blocked this client."
        )
    return Refusal("denied", 403, "Forbidden", wording.denied)
