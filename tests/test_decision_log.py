"""The opt-in decision log: one JSON line per decision, never an answer, a pass or a challenge id."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gate.clock import ManualClock
from gate.config import GateConfig
from gate.decision_log import DecisionLog
from gate.errors import ConfigError
from gate.gatekeeper import Challenge, Gatekeeper, Visitor
from gate.keys import KeyRing
from gate.overrides import IdentityOverride
from gate.passes import PassCodec
from gate.rules import Action, Rule, RuleSet, Verdict
from gate.store import MemoryStore
from middleware import GateMiddleware
from tests.support import FixedWordSource

RULES = RuleSet(
    [
        Rule("/paid/", price=600, budget=2),
        Rule("/closed/", action=Action.DENY),
    ]
)
ALICE = "192.0.2.10"
FIELDS = {
    "time", "identity", "rule", "action", "outcome", "reason", "price", "latency_ms", "request_id"
}  # fmt: skip


def lines_of(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_every_decision_writes_one_line_with_its_fields_and_no_secret() -> None:
    stream = io.StringIO()
    log = DecisionLog(stream)
    source, clock = FixedWordSource(), ManualClock(1_800_000_000.0)
    gk = Gatekeeper(
        MemoryStore(), source, PassCodec(KeyRing.generate(), clock=clock), RULES, clock=clock
    )
    gk.decision_log = log
    asked = await gk.decide(Visitor(path="/paid/a", peer=ALICE, headers={"x-request-id": "r-1"}))
    assert isinstance(asked, Challenge)
    clock.advance(60)  # past the solve-time floor
    gates = len(asked.challenge.puzzle.gates)
    minted = await gk.solve(
        asked.challenge.challenge_id, Visitor(path="/paid/a", peer=ALICE), source.issued[-gates:]
    )
    await gk.decide(Visitor(path="/paid/a", peer=ALICE, tokens=(minted.token,)))
    await gk.decide(Visitor(path="/free", peer=ALICE))
    await gk.decide(Visitor(path="/closed/x", peer=ALICE))
    trial = Verdict(Rule("/trial/", price=600), "trial", dry_run=True)  # a policy's dry-run rule
    await gk.decide(Visitor(path="/trial/x", peer=ALICE), trial)
    gk.overrides = {"net:198.51.100.0/24": IdentityOverride(blocked=True)}
    await gk.decide(Visitor(path="/free", peer="198.51.100.7"))
    log.close()

    lines = lines_of(stream)
    assert [line["outcome"] for line in lines] == [
        "challenge", "pass", "allow", "deny", "dry_run:challenge", "blocked"
    ]  # fmt: skip
    assert all(set(line) == FIELDS for line in lines)
    first = lines[0]
    assert first["rule"] == "/paid/" and first["action"] == "price"
    assert first["reason"] == "missing" and first["request_id"] == "r-1"
    assert first["price"] == asked.challenge.price and first["identity"].startswith("net:")
    assert first["time"] == "2027-01-15T08:00:00.000+00:00"
    assert isinstance(first["latency_ms"], float) and first["latency_ms"] >= 0
    assert lines[1]["price"] is None and lines[4]["price"] is not None
    text = stream.getvalue()
    for secret in (minted.token, asked.challenge.challenge_id, *source.issued):
        assert secret not in text


def test_the_middleware_logs_free_paths_too(tmp_path: Path) -> None:
    """The middleware's fast path for free rules makes no store round trip but is logged."""
    path = tmp_path / "decisions.jsonl"
    log = DecisionLog(str(path))
    gk = Gatekeeper(MemoryStore(), FixedWordSource(), PassCodec(KeyRing.generate()), RULES)
    gk.decision_log = log
    site = Starlette(routes=[Route("/about", lambda request: PlainTextResponse("hi"))])
    client = TestClient(GateMiddleware(site, gk), client=("203.0.113.4", 1))
    assert client.get("/about", headers={"X-Request-Id": "abc"}).status_code == 200
    assert client.get("/paid/x").status_code == 401
    log.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["outcome"], line["request_id"]) for line in lines] == [
        ("allow", "abc"), ("challenge", None)
    ]  # fmt: skip


def test_the_log_is_off_unless_configured_and_a_bad_target_names_the_variable(
    tmp_path: Path,
) -> None:
    assert GateConfig.from_env({}).decision_log == ""
    assert GateConfig.from_env({"GATE_DECISION_LOG": "-"}).decision_log == "-"
    gk = Gatekeeper(MemoryStore(), FixedWordSource(), PassCodec(KeyRing.generate()), RULES)
    assert gk.decision_log is None


async def test_a_runtime_with_an_unwritable_log_refuses_to_start(tmp_path: Path) -> None:
    from serving.runtime import open_runtime

    config = GateConfig.from_env(
        {"GATE_DECISION_LOG": str(tmp_path / "missing" / "d.jsonl")}, state_dir=tmp_path
    )
    with pytest.raises(ConfigError, match="GATE_DECISION_LOG"):
        await open_runtime(config, RULES, seed=False)
