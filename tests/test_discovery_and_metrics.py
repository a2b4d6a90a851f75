"""The public discovery document and the private metrics."""

from __future__ import annotations

import httpx2
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gate import metrics
from gate.gatekeeper import Gatekeeper
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.policy import parse_policy
from gate.rules import Rule, RuleSet
from gate.store import MemoryStore
from middleware import GateMiddleware
from tests.support import FixedWordSource


def client_for(rules) -> TestClient:  # type: ignore[no-untyped-def]
    gatekeeper = Gatekeeper(MemoryStore(), FixedWordSource(), PassCodec(KeyRing.generate()), rules)
    return TestClient(GateMiddleware(Starlette(), gatekeeper), client=("203.0.113.4", 1))


def test_the_discovery_document_publishes_prices_and_the_protocol() -> None:
    client = client_for(RuleSet([Rule("/api/", price=2_000, budget=40)]))
    response = client.get("/.well-known/reasoning-gate")
    assert response.status_code == 200
    document = response.json()
    api = next(
        entry for entry in document["prices"] if entry["match"] == {"path": {"prefix": "/api/"}}
    )
    assert api["action"] == "challenge" and api["price"] == 2_000 and api["budget"] == 40
    assert document["puzzle"]["format"] == "acrostic"
    assert document["protocol"]["pass"]["header"].startswith("Authorization: ReasoningGate")


def test_the_discovery_document_describes_policy_rules_as_written() -> None:
    policy = parse_policy(
        "rules: [{name: bots, match: {user_agent: {regex: bot}}, weigh: 5}, "
        "{name: api, match: {path: {glob: '/api/*'}}, action: challenge, price: 900}]"
    )
    prices = client_for(policy).get("/.well-known/reasoning-gate").json()["prices"]
    assert prices[0] == {"name": "bots", "match": {"user_agent": {"regex": "bot"}}, "weigh": 5}
    assert prices[1]["match"] == {"path": {"glob": "/api/*"}} and prices[1]["price"] == 900


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_decisions_challenges_and_prices() -> None:
    client = client_for(
        RuleSet([Rule("/api/", price=600), Rule("/closed/", action=__import__("gate").Action.DENY)])
    )
    before = (
        value("gate_requests_total", action="challenge", rule="/api/"),
        value("gate_challenges_total", event="issued"),
    )
    client.get("/api/x")
    client.get("/closed/x")
    assert value("gate_requests_total", action="challenge", rule="/api/") == before[0] + 1
    assert value("gate_challenges_total", event="issued") == before[1] + 1
    assert value("gate_requests_total", action="deny", rule="/closed/") >= 1
    assert value("gate_challenge_price_tokens_count") >= 1


async def test_the_metrics_app_serves_the_prometheus_text_format() -> None:
    transport = httpx2.ASGITransport(app=metrics.metrics_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://metrics") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200 and "gate_requests_total" in response.text


def test_a_free_path_is_counted_as_allowed_like_any_decision() -> None:
    """The middleware decides free paths without a store round trip; the metric still counts them."""
    client = client_for(RuleSet([Rule("/api/", price=600)]))
    before = value("gate_requests_total", action="allow", rule="/")
    client.get("/about")
    client.get("/about")
    assert value("gate_requests_total", action="allow", rule="/") == before + 2
