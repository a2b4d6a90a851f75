"""Prometheus metrics of the gate.

They live in their own registry, served by ``metrics_app()`` on a separate listener that is not
public: prices, rule names and rates tell an attacker how the gate is tuned.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.asgi import make_asgi_app  # plain ASGI callable, no web framework

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "gate_requests", "Requests decided, by outcome and rule.", ["action", "rule"], registry=REGISTRY
)
CHALLENGES = Counter(
    "gate_challenges",
    "Challenges issued, reused (asked again), solved, failed and answered too early.",
    ["event"],
    registry=REGISTRY,
)
BOT_SIGNATURES = Counter(
    "gate_bot_signatures", "Web Bot Auth signatures seen, by result.", ["result"], registry=REGISTRY
)
PASSES = Counter("gate_passes", "Passes minted and exhausted.", ["event"], registry=REGISTRY)
PRICES = Histogram(
    "gate_challenge_price_tokens",
    "Price of issued challenges in expected solver tokens.",
    buckets=(500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000),
    registry=REGISTRY,
)
FAILURES = Counter(
    "gate_failures",
    "Requests the gate failed closed on (503), by cause (the error's class).",
    ["cause"],
    registry=REGISTRY,
)
BANK_FRESH = Gauge(
    "gate_bank_fresh_clues",
    "Clues under the serve limit this process can still serve, by tier. Time to exhaustion: "
    "gate_bank_fresh_clues / rate(gate_bank_serves_total[15m]).",
    ["tier"],
    registry=REGISTRY,
)
BANK_SERVES = Counter("gate_bank_serves", "Clues served, by tier.", ["tier"], registry=REGISTRY)
BANK_SERVABLE = Gauge(
    "gate_bank_servable_clues",
    "Fresh clues (servable, under the serve limit) in SQL, by tier and source, for all replicas.",
    ["tier", "source"],
    registry=REGISTRY,
)
BANK_SERVE_RATE = Gauge(
    "gate_bank_serve_rate",
    "Clues served per hour over the last 15 minutes, by tier, summed over all replicas.",
    ["tier"],
    registry=REGISTRY,
)
BANK_EXHAUSTION = Gauge(
    "gate_bank_exhaustion_seconds",
    "Time until a tier has no fresh clue at the current serve rate (+Inf while unserved).",
    ["tier"],
    registry=REGISTRY,
)
BANK_DRY = Counter(
    "gate_bank_dry",
    "Puzzles composed with no fresh clue left, by what the gate did (reuse or refuse).",
    ["mode"],
    registry=REGISTRY,
)
SOLVE_SECONDS = Histogram(
    "gate_solve_seconds",
    "Time from issue to a correct answer, per rule scope (the solve-time floor's effect).",
    ["scope"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
    registry=REGISTRY,
)
LATENCY = Histogram(
    "gate_decision_seconds",
    "Time the gate spends deciding a request (store round trip included).",
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
    registry=REGISTRY,
)

# LLM pool flows (tenant x job class), labelled by pool name: how fairly the pool shares its
# backends.  Tenants come from configuration, not from clients, so the label set stays small.
_FLOW = ["pool", "tenant", "job_class"]
LLM_FLOW_QUEUED = Gauge(
    "gate_llm_flow_queued",
    "LLM calls waiting for a backend slot, per flow.",
    _FLOW,
    registry=REGISTRY,
)
LLM_FLOW_IN_FLIGHT = Gauge(
    "gate_llm_flow_in_flight", "LLM calls running on a backend, per flow.", _FLOW, registry=REGISTRY
)
LLM_FLOW_SERVICE = Gauge(
    "gate_llm_flow_service_tokens",
    "Weighted tokens served per flow (input_weight*prompt + output_weight*output).",
    _FLOW,
    registry=REGISTRY,
)
LLM_FLOW_WAIT = Histogram(
    "gate_llm_flow_wait_seconds",
    "Time LLM calls waited for a backend slot, per flow.",
    _FLOW,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
LLM_SHED = Counter(
    "gate_llm_shed",
    "LLM calls refused because their deadline could not be met.",
    _FLOW,
    registry=REGISTRY,
)


def metrics_app():  # type: ignore[no-untyped-def]
    """An ASGI app answering GET /metrics-style scrapes for this registry."""
    return make_asgi_app(registry=REGISTRY)
