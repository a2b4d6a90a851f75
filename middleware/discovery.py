"""The public discovery document: how agents learn the prices and how to pay before they ask.

Served at ``/.well-known/reasoning-gate`` (JSON).  Everything in it is public by design: the rules'
match conditions and terms, the puzzle format and the protocol.  Nothing secret is derived from it:
no hidden word, no key, no client data.
"""

from __future__ import annotations

from typing import Any

from gate.gatekeeper import Gatekeeper
from gate.pricing import TIER_COST
from middleware.render import SCHEME

DISCOVERY_PATH = "/.well-known/reasoning-gate"


def discovery_document(
    gatekeeper: Gatekeeper, *, endpoint: str, cookie_name: str
) -> dict[str, Any]:
    settings = gatekeeper.settings
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
            "tiers": {str(tier): {"tokens_per_clue": cost} for tier, cost in TIER_COST.items()},
            "agent_tier": settings.agent_tier,
            "human_tier": settings.human_tier,
            "answer_normalisation": "Unicode NFKC, case-folded, letters only",
            "attempts": settings.max_attempts,
            "ttl_seconds": settings.challenge_ttl,
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
