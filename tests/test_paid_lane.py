"""The paid lane (middleware.paid_lane): repeats of a paid request are served from the pass's
lease without deciding them again, and anything that would change the decision sends the
request through the whole decision again."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from gate.clock import ManualClock
from gate.gatekeeper import Gatekeeper, GateSettings, Visitor
from gate.keys import KeyRing
from gate.overrides import IdentityOverride, effective
from gate.passes import PassCodec
from gate.rules import Rule, RuleSet
from gate.store import MemoryStore
from middleware import BUDGET_HEADER, GateMiddleware
from tests.support import FixedWordSource, answers_for

PEER = ("203.0.113.5", 40000)
JSON = {"Accept": "application/json"}
BUDGET = 40
LEASE = 8
RULE = Rule("/paid/", price=600, budget=BUDGET, pass_ttl=600)


async def hello(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def build(clock: ManualClock) -> tuple[Gatekeeper, GateMiddleware, FixedWordSource]:
    source = FixedWordSource()
    keeper = Gatekeeper(
        MemoryStore(clock=clock),
        source,
        PassCodec(KeyRing.generate(), clock=clock),
        RuleSet([RULE]),
        GateSettings(pass_lease=LEASE),
        clock=clock,
    )
    return keeper, GateMiddleware(hello, keeper), source


def pay(http: TestClient, source: FixedWordSource) -> dict[str, str]:
    unpaid = http.get("/paid/x", headers=JSON)
    solved = http.post(
        unpaid.json()["challenge"]["url"], json={"answers": list(answers_for(source, 1))}
    )
    assert solved.status_code == 200, solved.text
    return {"Authorization": f"ReasoningGate {solved.json()['pass']}", **JSON}


def served(http: TestClient, headers: dict[str, str], times: int) -> list[int]:
    return [http.get("/paid/x", headers=headers).status_code for _ in range(times)]


def test_repeats_spend_exactly_the_budget_and_count_it_down() -> None:
    _, app, source = build(ManualClock())
    http = TestClient(app, client=PEER)
    paid = pay(http, source)
    left = [int(http.get("/paid/x", headers=paid).headers[BUDGET_HEADER]) for _ in range(BUDGET)]
    assert left == list(range(BUDGET - 1, -1, -1))
    spent = http.get("/paid/x", headers=paid)
    assert spent.status_code == 401 and spent.json()["reason"] == "exhausted"
    assert len(app._lane._memo) == 1  # the repeats went through the lane


def test_a_block_expiry_and_a_rule_change_reach_a_repeat_at_once() -> None:
    clock = ManualClock()
    keeper, app, source = build(clock)
    http = TestClient(app, client=PEER)
    paid = pay(http, source)
    assert served(http, paid, 2) == [200, 200]  # the second from the lease, through the lane
    subject = keeper.identity(Visitor(path="/paid/x", peer=PEER[0]))
    keeper.overrides = effective({subject: IdentityOverride(blocked=True)})
    assert served(http, paid, 1) == [403]
    keeper.overrides = effective({})
    assert served(http, paid, 1) == [200]
    # New terms for the path: the pass paid for the old ones re-challenges, lease or not.
    keeper.rules = RuleSet([Rule("/paid/", price=700, budget=BUDGET, pass_ttl=600)])
    refused = http.get("/paid/x", headers=paid)
    assert refused.status_code == 401 and refused.json()["reason"] == "not_applicable"
    keeper.rules = RuleSet([RULE])
    assert served(http, paid, 1) == [200]
    clock.advance(601)  # past the pass's expiry, with uses still leased
    expired = http.get("/paid/x", headers=paid)
    assert expired.status_code == 401 and expired.json()["reason"] == "expired"


def test_the_same_headers_from_another_client_are_decided_in_full() -> None:
    _, app, source = build(ManualClock())
    paid = pay(TestClient(app, client=PEER), source)
    owner = TestClient(app, client=PEER)
    assert served(owner, paid, 3) == [200, 200, 200]
    thief = TestClient(app, client=("198.51.100.9", 40000))
    stolen = thief.get("/paid/x", headers=paid)
    assert stolen.status_code == 401 and stolen.json()["reason"] == "not_applicable"
