"""The policy file: validation that points at the offending rule, and evaluation."""

from __future__ import annotations

import pytest

from gate.errors import ConfigError
from gate.policy import RequestFacts, parse_policy
from gate.rules import Action

POLICY = """
version: 1
defaults: {budget: 50, pass_ttl: 1800}
thresholds:
  - {weight: 10, action: challenge, price: 3000}
  - {weight: 30, action: deny}
rules:
  - name: health
    match: {path: /health, method: GET}
    action: allow
  - name: office
    match: {network: ["10.0.0.0/8"]}
    action: allow
  - name: partners
    match: {identity: "key:partner-*"}
    action: challenge
    price: 500
  - name: scrapers
    match: {user_agent: {regex: "(?i)scrapy|python-requests"}}
    weigh: 20
  - name: no-accept-language
    match: {headers: {accept-language: ""}}
    weigh: 10
  - name: admin
    match: {path: {glob: "/admin/*"}}
    action: deny
    dry_run: true
  - name: api
    match: {path: {regex: "^/api/v[0-9]+/"}, host: [api.example.com, "*.api.example.com"]}
    action: challenge
    price: 2000
default: allow
"""


def facts(path: str = "/", **overrides: object) -> RequestFacts:
    headers = {"user-agent": "Mozilla/5.0", "accept-language": "en"}
    headers.update(overrides.pop("headers", {}))  # type: ignore[arg-type]
    return RequestFacts(path=path, headers=headers, **overrides)  # type: ignore[arg-type]


def test_the_first_deciding_rule_wins() -> None:
    policy = parse_policy(POLICY)
    assert policy.evaluate(facts("/health")).name == "health"
    assert policy.evaluate(facts("/health", method="POST")).name == "default"
    assert policy.evaluate(facts("/x", address="10.1.2.3")).name == "office"
    verdict = policy.evaluate(facts("/api/v2/items", host="api.example.com:443"))
    assert (
        verdict.name == "api" and verdict.rule.action is Action.PRICE and verdict.rule.price == 2000
    )
    assert verdict.rule.budget == 50 and verdict.rule.pass_ttl == 1800
    assert policy.evaluate(facts("/api/v2/items", host="eu.api.example.com")).name == "api"
    assert policy.evaluate(facts("/api/v2/items", host="example.org")).name == "default"
    assert policy.evaluate(facts("/p", identity="key:partner-acme")).rule.price == 500


def test_weights_add_up_to_thresholds() -> None:
    policy = parse_policy(POLICY)
    scraper = policy.evaluate(facts("/page", headers={"user-agent": "Scrapy/2.11"}))
    assert scraper.weight == 20 and scraper.name == "threshold:10" and scraper.rule.price == 3000
    worse = policy.evaluate(
        facts("/page", headers={"user-agent": "python-requests/2", "accept-language": ""})
    )
    assert worse.weight == 30 and worse.rule.action is Action.DENY


def test_dry_run_rules_say_so() -> None:
    verdict = parse_policy(POLICY).evaluate(facts("/admin/users"))
    assert verdict.rule.action is Action.DENY and verdict.dry_run


def test_the_rule_hash_changes_with_its_terms_and_rules_do_not_share_passes() -> None:
    one = parse_policy(POLICY).evaluate(facts("/api/v1/x", host="api.example.com")).rule
    changed = (
        parse_policy(POLICY.replace("price: 2000", "price: 2500"))
        .evaluate(facts("/api/v1/x", host="api.example.com"))
        .rule
    )
    assert one.digest != changed.digest
    partners = parse_policy(POLICY).evaluate(facts("/p", identity="key:partner-x")).rule
    assert partners.scope != one.scope


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{name: a, action: shout}]", "rule 1 ('a'): action must be one of"),
        ("rules: [{name: a, action: challenge}]", "rule 1 ('a'): a challenge needs a price"),
        (
            "rules: [{action: allow, match: {path: {regex: '('}}}]",
            "rule 1 ('rule-1'): match.path: invalid regex",
        ),
        ("rules: [{name: a, action: allow, match: {network: [nope]}}]", "invalid network 'nope'"),
        ("rules: [{name: a, action: allow, colour: red}]", "unknown field(s) colour"),
        (
            "rules: [{name: a, action: allow}, {name: a, action: deny}]",
            "rule 2 ('a'): duplicate name",
        ),
        ("rules: [{name: a, weigh: 3, action: deny}]", "either weighs or decides"),
        ("rules: [{name: a, action: challenge, price: -1}]", "price must be positive"),
        ("thresholds: [{weight: 0, action: deny}]", "threshold 1: weight must be at least 1"),
        ("rules: {}", "'rules' must be a list"),
        (": : :", "not valid YAML"),
        (
            "rules: [{name: a, action: challenge, price: 1.5}]",
            "rule 1 ('a'): price must be a whole",
        ),
        (
            "rules: [{name: a, action: allow, colour: red, size: 2}]",
            "unknown field(s) colour, size",
        ),
        ("rules: [{name: 3, action: allow}]", "rule 1: name must be text"),
        (
            "rules: [{action: allow, match: {pth: /a}}]",
            "rule 1 ('rule-1'): match: unknown field(s)",
        ),
        ("rules: [{action: allow, match: [1]}]", "rule 1 ('rule-1'): 'match' must be a mapping"),
        ("rules: [{action: allow, dry_run: 1}]", "dry_run must be true or false"),
        ("rules: [{action: deny, solve_floor: 4000}]", "solve_floor must be a number of seconds"),
        ("rules: [plain]", "rule 1: a rule is a mapping"),
        ("defaults: {price: x}", "defaults: price must be a whole number (got 'x')"),
        ("defaults: [1]", "'defaults' must be a mapping"),
        ("default: {action: allow, prise: 3}", "default: unknown field(s) prise"),
        ("default: 3", "'default' must be an action or a mapping"),
        ("thresholds: [{action: deny}]", "threshold 1: needs 'weight' and 'action'"),
        (
            "tiers: {gold: {discount: yes}}",
            "tier 'gold': discount must be a number between 0 and 1",
        ),
        ("tiers: [gold]", "'tiers' maps tier names to terms"),
        ("version: 2", "unsupported policy version 2"),
    ],
)
def test_invalid_policies_are_refused_with_the_rule_and_field_named(
    text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_policy(text, source="policy.yaml")
    assert message in str(caught.value) and str(caught.value).startswith("policy.yaml")


# -- the gate with a policy -------------------------------------------------------------------------

from starlette.applications import Starlette  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from gate.gatekeeper import Gatekeeper  # noqa: E402
from gate.keys import KeyRing  # noqa: E402
from gate.passes import PassCodec  # noqa: E402
from gate.store import MemoryStore  # noqa: E402
from middleware import GateMiddleware  # noqa: E402
from tests.support import FixedWordSource  # noqa: E402

GATED = """
rules:
  - name: health
    match: {path: /health}
    action: allow
  - name: bots
    match: {user_agent: {regex: "(?i)bot"}}
    action: challenge
    price: 900
  - name: writes
    match: {method: [POST, PUT, DELETE]}
    action: deny
  - name: beta
    match: {path: /beta/}
    action: deny
    dry_run: true
default: allow
"""


def gated_client(store: MemoryStore) -> TestClient:
    gatekeeper = Gatekeeper(
        store, FixedWordSource(), PassCodec(KeyRing.generate()), parse_policy(GATED)
    )
    site = Starlette(
        routes=[Route("/{p:path}", lambda r: PlainTextResponse("ok"), methods=["GET", "POST"])]
    )
    return TestClient(GateMiddleware(site, gatekeeper), client=("203.0.113.9", 1000))


def test_the_middleware_applies_the_policy_to_method_headers_and_paths() -> None:
    client = gated_client(MemoryStore())
    assert client.get("/page").status_code == 200
    assert client.get("/page", headers={"User-Agent": "GoodBot/1.0"}).status_code == 401
    assert client.get("/health", headers={"User-Agent": "GoodBot/1.0"}).status_code == 200
    assert client.post("/page").status_code == 403


def test_a_dry_run_rule_counts_what_it_would_have_done_and_lets_the_request_through() -> None:
    store = MemoryStore()
    client = gated_client(store)
    assert client.get("/beta/feature").status_code == 200
    assert client.get("/beta/feature").status_code == 200

    import asyncio

    assert asyncio.run(store.get("dry-run:beta:deny")) == b"2"
