"""``ForwardAuth`` at the ASGI seam (Starlette's TestClient, memory store); tests/test_edge.py runs
it behind the real nginx and caddy, tests/test_workers.py as ``gate authz --workers 2``."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from gate.config import GateConfig
from gate.errors import ConfigError
from gate.gatekeeper import Gatekeeper, GateSettings
from gate.identity import parse_networks
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.rules import Action, Rule, RuleSet
from gate.store import MemoryStore
from middleware import BUDGET_HEADER
from middleware.authz import ANSWER_HEADER, ForwardAuth
from middleware.authz_cli import serve_authz
from tests.support import FixedWordSource, answers_for

EDGE = ("10.0.0.10", 41000)  # the trusted proxy
STRANGER = ("203.0.113.5", 40000)
JSON = {"Accept": "application/json"}


def build(
    peer: tuple[str, int] = EDGE, *, edge_cache: int = 0, free_per_window: int = 0
) -> tuple[TestClient, FixedWordSource]:
    source = FixedWordSource()
    rules = RuleSet(
        [
            Rule("/paid/", price=600, budget=2, free_per_window=free_per_window),
            Rule("/closed/", action=Action.DENY),
        ]
    )
    gatekeeper = Gatekeeper(
        MemoryStore(),
        source,
        PassCodec(KeyRing.generate()),
        rules,
        GateSettings(trusted_proxies=parse_networks(["10.0.0.10/32"]), edge_cache=edge_cache),
    )
    return TestClient(ForwardAuth(gatekeeper), client=peer), source


def original(uri: str, method: str = "GET", **extra: str) -> dict[str, str]:
    return {
        "X-Forwarded-Method": method,
        "X-Forwarded-Uri": uri,
        "X-Forwarded-Host": "site.example",
        "X-Forwarded-For": "198.51.100.7",
        **JSON,
        **extra,
    }


def test_a_paying_client_gets_200_with_its_budget_and_no_gate_credential_back() -> None:
    http, source = build()
    unpaid = http.get("/.gate/auth", headers=original("/paid/x"))
    assert unpaid.status_code == 401 and unpaid.headers["www-authenticate"].startswith(
        "ReasoningGate "
    )
    challenge = unpaid.json()["challenge"]
    solved = http.post(
        challenge["url"],
        json={"answers": list(answers_for(source, 1))},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert solved.status_code == 200, solved.text
    token = solved.json()["pass"]
    paid = http.get(
        "/.gate/auth",
        headers=original(
            "/paid/x?q=1",
            Authorization=f"ReasoningGate {token}",
            Cookie=f"theme=dark; rg_pass={token}",
        ),
    )
    assert paid.status_code == 200 and paid.content == b""
    assert paid.headers[BUDGET_HEADER] == "1"
    assert paid.headers["gate-cookie"] == "theme=dark" and paid.headers["gate-authorization"] == ""
    # From another network the same pass is someone else's.
    other = http.get(
        "/.gate/auth",
        headers={
            **original("/paid/x"),
            "X-Forwarded-For": "192.0.2.1",
            "Authorization": f"ReasoningGate {token}",
        },
    )
    assert other.status_code == 401


def test_deferred_answers_are_401_with_an_id_the_full_answer_is_replayed_once() -> None:
    http, source = build()
    deferred = http.get("/.gate/auth/deferred", headers=original("/paid/x"))
    assert deferred.status_code == 401 and deferred.content == b""
    answer_id = deferred.headers[ANSWER_HEADER]
    assert len(answer_id) >= 22  # 128 random bits
    replayed = http.get(f"/.gate/answers/{answer_id}", headers=JSON)
    assert replayed.status_code == 401
    assert replayed.headers["www-authenticate"].startswith("ReasoningGate ")
    assert replayed.json()["challenge"]["url"].startswith("/.gate/challenges/")
    assert source.issued[-1] not in replayed.text
    again = http.get(f"/.gate/answers/{answer_id}")
    assert again.status_code == 503  # taken once; a guess or a replay gets nothing
    denied = http.get("/.gate/auth/deferred", headers=original("/closed/x"))
    assert http.get(f"/.gate/answers/{denied.headers[ANSWER_HEADER]}").status_code == 403
    free = http.get("/.gate/auth/deferred", headers=original("/about"))
    assert free.status_code == 200 and ANSWER_HEADER not in free.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-Uri": "/paid/x"},  # no method
        {"X-Forwarded-Method": "GET"},  # no URI
        {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "http://elsewhere/paid/x"},
        {"X-Forwarded-Method": "G T", "X-Forwarded-Uri": "/paid/x"},
    ],
)
def test_a_request_the_edge_did_not_describe_is_refused(headers: dict[str, str]) -> None:
    http, _ = build()
    response = http.get("/.gate/auth", headers={**headers, **JSON})
    assert response.status_code == 400 and response.json()["error"] == "bad_forward_auth"


def test_a_forward_auth_header_sent_twice_is_refused() -> None:
    http, _ = build()
    response = http.get(
        "/.gate/auth",
        headers=[
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/free"),
            ("X-Forwarded-Uri", "/paid/x"),
            ("Accept", "application/json"),
        ],
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "uri", ["/free/..%2Fpaid/x", "/free/../paid/x", "/paid%2fx", "/a\\..\\paid/x"]
)
def test_a_target_that_reads_two_ways_is_refused(uri: str) -> None:
    http, _ = build()
    response = http.get("/.gate/auth", headers=original(uri))
    assert response.status_code == 400 and response.json()["error"] == "ambiguous_path"
    deferred = http.get("/.gate/auth/deferred", headers=original(uri))
    assert deferred.status_code == 401
    assert http.get(f"/.gate/answers/{deferred.headers[ANSWER_HEADER]}").status_code == 400


def test_envoy_sends_the_original_target_after_the_path_prefix() -> None:
    http, _ = build()
    unpaid = http.post("/.gate/auth/path/paid/x?q=1", headers={"Host": "site.example", **JSON})
    assert unpaid.status_code == 401
    assert http.get("/.gate/auth/path/about", headers=JSON).status_code == 200
    assert http.get("/.gate/auth/path/closed/x", headers=JSON).status_code == 403


def test_only_trusted_proxies_are_answered() -> None:
    http, _ = build(STRANGER)
    for path in (
        "/.gate/auth",
        "/.gate/auth/deferred",
        "/.gate/auth/path/about",
        "/.gate/answers/x",
    ):
        response = http.get(path, headers=original("/about"))
        assert response.status_code == 403 and response.json()["error"] == "untrusted_peer"
    # The challenge endpoint and the discovery document are public, as through the middleware.
    assert http.get("/.well-known/reasoning-gate").status_code == 200
    assert http.get("/.gate/challenges/unknown", headers=JSON).status_code == 410
    assert http.get("/paid/x", headers=JSON).status_code == 404


async def test_gate_authz_refuses_to_start_without_trusted_proxies(tmp_path: Any) -> None:
    config = GateConfig.from_env({}, state_dir=tmp_path)
    with pytest.raises(ConfigError, match="GATE_TRUSTED_PROXIES"):
        await serve_authz(config=config)


def test_only_a_yes_paid_by_a_pass_is_marked_cacheable_for_the_edge() -> None:
    http, source = build(edge_cache=5, free_per_window=1)
    free = http.get("/.gate/auth", headers=original("/elsewhere"))  # no rule: free
    allowance = http.get("/.gate/auth", headers=original("/paid/x"))  # the free allowance
    assert free.status_code == allowance.status_code == 200
    assert "x-accel-expires" not in free.headers and "x-accel-expires" not in allowance.headers
    unpaid = http.get("/.gate/auth", headers=original("/paid/x"))
    solved = http.post(
        unpaid.json()["challenge"]["url"],
        json={"answers": list(answers_for(source, 1))},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    auth = f"ReasoningGate {solved.json()['pass']}"
    first = http.get("/.gate/auth", headers=original("/paid/x", Authorization=auth))
    assert first.headers["x-accel-expires"] == "5" and "cache-control" not in first.headers
    # The yes that spends the last use is not: its repeats would all be past the budget.
    last = http.get("/.gate/auth", headers=original("/paid/x", Authorization=auth))
    assert last.status_code == 200 and last.headers[BUDGET_HEADER] == "0"
    assert "x-accel-expires" not in last.headers and last.headers["cache-control"] == "no-store"
