"""Visitors and decisions: what the gate is asked about a request, and what it answers.

These are the values every way in exchanges with the core (``Gatekeeper.decide`` and ``preview``);
they carry no behaviour beyond naming what happened (``outcome_of``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gate.challenges import IssuedChallenge
from gate.passes import PassClaims
from gate.rules import Rule


@dataclass(frozen=True, slots=True)
class Visitor:
    """What the gate needs to know about one request."""

    path: str
    peer: str | None
    forwarded_for: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()  # candidate passes: Authorization first, then cookies
    human: bool = False
    method: str = "GET"
    host: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    # Set by adapters that know the client better than its address (an MCP stdio session).
    identity: str | None = None
    api_key: str | None = None  # as presented; the gate checks it against its key list
    bot: str | None = None  # a bot whose request signature the adapter verified


@dataclass(frozen=True, slots=True)
class Allow:
    rule: Rule
    # Requests left: on the pass that paid, or in the free allowance that let this one through.
    # None on free rules.
    remaining: int | None = None
    claims: PassClaims | None = None
    # Set when a dry-run rule let through a request it would have stopped: what it would have done.
    dry_run: str | None = None


@dataclass(frozen=True, slots=True)
class Deny:
    rule: Rule
    reason: str = "policy"  # or "blocked": an operator blocked this client (an override)


@dataclass(frozen=True, slots=True)
class Throttle:
    rule: Rule
    retry_after: int
    price: int


@dataclass(frozen=True, slots=True)
class Challenge:
    rule: Rule
    challenge: IssuedChallenge
    reason: str  # why no pass applied: missing, invalid, expired, not_applicable, exhausted


Decision = Allow | Deny | Throttle | Challenge


@dataclass(frozen=True, slots=True)
class Preview:
    """What ``decide`` would answer for a request, computed without changing anything.

    ``action`` is the outcome the rule calls for (allow, deny, throttle, challenge); with
    ``dry_run`` the rule only records it and the request would pass.  ``price_tokens`` is what a
    challenge would ask, with the client's current rate multiplier and tier discount applied.
    """

    action: str
    price_tokens: int | None
    tier: str | None
    rule: str
    reasons: tuple[str, ...]
    dry_run: bool
    identity: str = ""
    rate: float = 0.0  # the client's requests per window, this one included
    multiplier: float = 1.0
    base_price: int | None = None  # the rule's price before rate and tier
    retry_after: int | None = None  # for throttle: seconds until the price is payable again
    # For challenge: what the client would be asked, the expected cost of the puzzle that
    # ``price_tokens`` composes (whole clues of the tier, so it rounds up: 2000 at tier 2 is seven
    # 300-token clues, 2100), at the tier's default clue cost.
    puzzle_tokens: int | None = None


def outcome_of(decision: Decision) -> str:
    """What the gate did, in one word (the decision log's ``outcome``)."""
    if isinstance(decision, Allow):
        if decision.dry_run is not None:
            return f"dry_run:{decision.dry_run}"
        if decision.claims is not None:
            return "pass"
        return "allow" if decision.remaining is None else "allowance"
    if isinstance(decision, Deny):
        return "blocked" if decision.reason == "blocked" else "deny"
    return "challenge" if isinstance(decision, Challenge) else "throttle"
