"""People pay a human price: a bounded form, told in time rather than tokens."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from gate.config import GateConfig
from gate.errors import ConfigError
from gate.gatekeeper import Challenge, Gatekeeper, GateSettings, Visitor
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.rules import Rule, RuleSet
from gate.store import MemoryStore
from middleware import GateMiddleware
from tests.support import FixedWordSource

RULES = RuleSet([Rule("/api/", price=6_000)])


def keeper(**settings: object) -> Gatekeeper:
    return Gatekeeper(
        MemoryStore(),
        FixedWordSource(),
        PassCodec(KeyRing.generate()),
        RULES,
        GateSettings(**settings),  # type: ignore[arg-type]
    )


async def test_a_person_sees_at_most_the_human_clue_cap_and_a_program_pays_in_full() -> None:
    gatekeeper = keeper(human_max_clues=8)
    person = await gatekeeper.decide(Visitor(path="/api/x", peer="192.0.2.1", human=True))
    program = await gatekeeper.decide(Visitor(path="/api/x", peer="198.51.100.1"))
    assert isinstance(person, Challenge) and isinstance(program, Challenge)
    clues = sum(gate.length for gate in person.challenge.puzzle.gates)
    assert clues <= 8 and person.challenge.price <= 8 * 150
    assert program.challenge.price >= 6_000


async def test_a_capped_price_buys_a_share_of_the_budget_so_posing_as_a_person_saves_nothing() -> (
    None
):
    source = FixedWordSource()
    gatekeeper = Gatekeeper(
        MemoryStore(),
        source,
        PassCodec(KeyRing.generate()),
        RuleSet([Rule("/api/", price=6_000, budget=100)]),
        GateSettings(human_max_clues=8),
    )
    minted = {}
    for who, human in (("192.0.2.1", True), ("198.51.100.1", False)):
        visitor = Visitor(path="/api/x", peer=who, human=human)
        decision = await gatekeeper.decide(visitor)
        assert isinstance(decision, Challenge)
        gates = len(decision.challenge.puzzle.gates)
        passed = await gatekeeper.solve(
            decision.challenge.challenge_id, visitor, source.issued[-gates:]
        )
        minted[human] = (decision.challenge.price, passed.claims.budget)
    (person_price, person_budget), (program_price, program_budget) = minted[True], minted[False]
    assert person_price == 8 * 150 and program_budget == 100 and program_price >= 6_000
    assert person_budget == 100 * 1_200 // 6_000  # 20 requests for a fifth of the tokens
    assert person_price / person_budget >= 6_000 / program_budget  # tokens per request


async def test_the_preview_says_when_a_persons_price_is_capped() -> None:
    gatekeeper = keeper(human_max_clues=8)
    preview = await gatekeeper.preview(Visitor(path="/api/x", peer="192.0.2.1", human=True))
    assert preview.action == "challenge" and preview.price_tokens == 8 * 150
    assert any("at most 8 clues" in reason for reason in preview.reasons)


def test_the_html_form_estimates_minutes_not_tokens() -> None:
    client = TestClient(GateMiddleware(Starlette(), keeper()), client=("192.0.2.1", 1))
    page = client.get("/api/x", headers={"Accept": "text/html"}).text
    assert "It takes most people about 4 minutes." in page  # 10 clues at 20 s
    assert "token" not in page.lower()


def test_the_cap_is_a_setting_with_a_floor_of_one_word() -> None:
    assert GateConfig.from_env({"GATE_HUMAN_MAX_CLUES": "6"}).gate.human_max_clues == 6
    try:
        GateConfig.from_env({"GATE_HUMAN_MAX_CLUES": "2"})
    except ConfigError as exc:
        assert "GATE_HUMAN_MAX_CLUES must be at least 4" in str(exc)
    else:
        raise AssertionError("a cap below one hidden word was accepted")
