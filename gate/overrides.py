"""Operator overrides by client identity, as the gatekeeper reads them: blocked, or a tier.

The operator's list lives in SQL (``operator_state.overrides``); each replica loads it every few seconds
into a plain dict held here, so the request path pays one dict lookup (none while it is empty).

Identity keys are the gatekeeper's own (``Gatekeeper.identity``): ``net:<network>`` for anonymous
clients (their IPv4 /24 or IPv6 /64, e.g. ``net:192.0.2.0/24``), ``key:<name>`` for API-key holders,
``bot:<name>`` for verified bots, ``unknown`` for unusable addresses, and identities adapters set
themselves (``mcp:stdio``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gate.rules import Action, Rule

# Terms of the synthetic rule a blocked identity meets (it names the override in metrics).
BLOCKED = Rule(action=Action.DENY, scope="override:blocked")


@dataclass(frozen=True, slots=True)
class IdentityOverride:
    tier: str | None = None  # a policy tier name that replaces the identity's own
    blocked: bool = False
    reason: str = ""


NO_OVERRIDES: Mapping[str, IdentityOverride] = MappingProxyType({})


def effective(overrides: Mapping[str, IdentityOverride]) -> Mapping[str, IdentityOverride]:
    """The entries that change anything, frozen (a refresh swaps the whole mapping at once)."""
    kept = {key: value for key, value in overrides.items() if value.blocked or value.tier}
    return MappingProxyType(kept) if kept else NO_OVERRIDES
