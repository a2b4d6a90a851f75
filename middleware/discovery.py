"""The public discovery document: how agents learn the prices and how to pay before they ask.

Served at ``/.well-known/reasoning-gate`` (JSON).  Everything in it is public by design: the rules'
match conditions and terms, the puzzle format and the protocol.  Nothing secret is derived from it:
no hidden word, no key, no client data.
"""

from __future__ import annotations

import math
from typing import Any

from gate import challenges
from gate.gatekeeper import Gatekeeper
from gate.pricing import TIER_COST
from gate.puzzle import BasisSource
from middleware.render import SCHEME

DISCOVERY_PATH = "/.well-known/reasoning-gate"


def discovery_document(
    gatekeeper: Gatekeeper, *, endpoint: str, cookie_name: str
) -> dict[str, Any]:
    settings = gatekeeper.settings
    source = gatekeeper.challenges.source
    basis = source.price_basis() if isinstance(source, BasisSource) else {}
    tiers: dict[str, dict[str, Any]] = {}
    for tier, cost in TIER_COST.items():
        tiers[str(tier)] = {"tokens_per_clue": cost}
        if tier in basis:
            # What that number rests on: measured by named models, or the tier default.
            tiers[str(tier)]["price_basis"] = basis[tier]
    rate = settings.decode_rate or challenges.DECODE_RATE
    # An infinite rate: no floor by default (JSON has no inf).
    decode_rate: float | None = rate if math.isfinite(rate) else None
    return {
        "version": 1,
        "scheme": SCHEME,
        "prices": gatekeeper.rules.describe(),
        "price_unit": "expected solver tokens: the tokens a reference language model spends to solve",
        "rate_pricing": {
            "window_seconds": settings.rate_window,
            "multiplier_by_requests_per_window": [list(point) for point in settings.curve.points],
            "max_price": settings.max_price,
            "over_max": "429 with Retry-After",
        },
        "puzzle": {
            "format": "acrostic",
            "description": (
                "Each gate hides a word; it shows one clue per letter. The initials of the clue "
                "answers, in order, spell the hidden word. A challenge may have several gates."
            ),
            "tiers": tiers,
            "agent_tier": settings.agent_tier,
            "human_tier": settings.human_tier,
            "answer_normalisation": "Unicode NFKC, case-folded, letters only",
            "attempts": settings.max_attempts,
            "ttl_seconds": settings.challenge_ttl,
            "solve_floor": {
                "default": "the puzzle's price divided by decode_rate, unless the rule sets "
                "solve_floor (seconds); an earlier answer gets 429 too_early, no attempt used",
                "decode_rate_tokens_per_second": decode_rate,
            },
            "outstanding": "one challenge per client, rule and tier: asking again returns it",
        },
        "protocol": {
            "unpaid": f"401 with 'WWW-Authenticate: {SCHEME} challenge=..., price=...' and the puzzle "
            "(JSON, HTML or Markdown by Accept)",
            "challenge": f"GET {endpoint}/challenges/{{id}}",
            "solve": f'POST {endpoint}/challenges/{{id}} with JSON {{"answers": ["<hidden word>", ...]}}',
            "pass": {"header": f"Authorization: {SCHEME} <pass>", "cookie": cookie_name},
            "budget_header": "Gate-Budget-Remaining",
            "mcp": {
                "pass_meta_key": "reasoning-gate/pass",
                "tools": ["gate_challenge", "gate_solve"],
            },
        },
    }
