"""The solve-time floor and the one outstanding challenge per client, rule and tier.

A program that answers by lookup must earn passes no faster than a model that reasons, and asking
again must not hand out fresh clues.  Both hold in the core (an injected clock) and over HTTP.
"""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gate.challenges import ChallengeService, Terms
from gate.clock import ManualClock
from gate.errors import ChallengePending, ConfigError, TooEarly, WrongAnswer
from gate.gatekeeper import Gatekeeper, GateSettings
from gate.keys import KeyRing
from gate.ledger import read_ledger
from gate.passes import PassCodec
from gate.policy import parse_policy
from gate.puzzle import ComposedPuzzle, PuzzleSpec
from gate.rules import Rule, RuleSet
from gate.store import MemoryStore, Store
from middleware import GateMiddleware
from tests.conftest import _FLOOR_DEFAULTS
from tests.support import FixedWordSource

ALICE = "192.0.2.10"
TERMS = Terms("net:192.0.2.0/24", "http:/paid/", "digest", 5, 600)


def service(
    store: Store, clock: ManualClock, **kwargs: object
) -> tuple[ChallengeService, FixedWordSource]:
    source = FixedWordSource()
    codec = PassCodec(KeyRing.generate(), clock=clock)
    return ChallengeService(store, source, codec, clock=clock, **kwargs), source  # type: ignore[arg-type]


async def test_an_early_answer_is_deferred_not_judged_and_uses_no_attempt(
    store: Store, solve_floor: None
) -> None:
    clock = ManualClock(start=1_000.0)
    challenges, source = service(store, clock)
    issued = await challenges.issue(TERMS, price=1_500, tier=2)
    assert issued.floor == pytest.approx(1_500 / 250)  # the price at the default decode rate
    assert issued.not_before == pytest.approx(1_000.0 + 6.0)

    for answer in (source.issued[-1], "wrong"):  # right or wrong: the same refusal
        with pytest.raises(TooEarly) as early:
            await challenges.solve(issued.challenge_id, TERMS.subject, [answer])
        assert early.value.retry_after == 6
        assert str(early.value) == "too early; retry after 6 s"
    view = await challenges.view(issued.challenge_id)
    assert view.attempts == issued.attempts  # nothing was counted

    clock.advance(5.5)
    with pytest.raises(TooEarly) as early:
        await challenges.solve(issued.challenge_id, TERMS.subject, [source.issued[-1]])
    assert early.value.retry_after == 1  # rounded up, never 0

    clock.advance(0.5)  # a patient solver passes
    minted = await challenges.solve(issued.challenge_id, TERMS.subject, [source.issued[-1]])
    assert minted.claims.scope == TERMS.scope
    ledger = await read_ledger(challenges.store, TERMS.subject)
    assert (ledger.solved, ledger.early) == (1, 3)  # three early answers were not judged
    assert ledger.mean_solve_seconds == pytest.approx(6.0)


async def test_the_rule_floor_wins_over_the_price_and_zero_turns_it_off() -> None:
    clock = ManualClock()
    challenges, _ = service(MemoryStore(clock=clock), clock, decode_rate=100.0)
    slow = await challenges.issue(TERMS, price=600, tier=2)
    assert slow.floor == pytest.approx(slow.price / 100.0)  # the composed puzzle's price
    other = Terms("net:198.51.100.0/24", TERMS.scope, TERMS.rule, 5, 600, solve_floor=42.0)
    assert (await challenges.issue(other, price=600, tier=2)).floor == 42.0
    off = Terms("net:203.0.113.0/24", TERMS.scope, TERMS.rule, 5, 600, solve_floor=0.0)
    assert (await challenges.issue(off, price=600, tier=2)).floor == 0.0


async def test_asking_again_returns_the_outstanding_challenge_until_it_is_spent(
    store: Store,
) -> None:
    clock = ManualClock()
    challenges, source = service(store, clock, max_attempts=2)
    first = await challenges.issue(TERMS, price=600, tier=2)
    again = await challenges.issue(TERMS, price=600, tier=2)
    assert again.challenge_id == first.challenge_id and again.reused and not first.reused
    assert len(source.issued) == 1  # no second puzzle was composed: asking is not spending
    # Another tier (a person's HTML form), another rule or another pricing tier (an operator's
    # change) is another slot.
    assert (await challenges.issue(TERMS, price=600, tier=1)).challenge_id != first.challenge_id
    partner = await challenges.issue(TERMS, price=300, tier=2, slot="partner")
    assert partner.challenge_id != first.challenge_id

    for _ in range(2):  # out of attempts: the slot is free again
        with pytest.raises(WrongAnswer):
            await challenges.solve(first.challenge_id, TERMS.subject, ["wrong"])
    fresh = await challenges.issue(TERMS, price=600, tier=2)
    assert fresh.challenge_id != first.challenge_id and not fresh.reused

    await challenges.solve(fresh.challenge_id, TERMS.subject, [source.issued[-1]])
    solved_then = await challenges.issue(TERMS, price=600, tier=2)
    assert solved_then.challenge_id != fresh.challenge_id  # solved: the next ask is fresh


async def test_an_expired_outstanding_challenge_is_replaced() -> None:
    clock = ManualClock()
    challenges, _ = service(MemoryStore(clock=clock), clock)
    first = await challenges.issue(TERMS, price=600, tier=2)
    clock.advance(challenges.ttl + 1)
    assert (await challenges.issue(TERMS, price=600, tier=2)).challenge_id != first.challenge_id


class _SlowSource(FixedWordSource):
    """Composes only when released, so concurrent first requests overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.calls = 0

    async def compose(self, spec: PuzzleSpec) -> ComposedPuzzle:
        self.calls += 1
        await self.release.wait()
        return await super().compose(spec)


async def test_concurrent_first_requests_compose_one_challenge(store: Store) -> None:
    source = _SlowSource()
    clock = ManualClock()
    challenges = ChallengeService(
        store, source, PassCodec(KeyRing.generate(), clock=clock), clock=clock
    )
    racers = [asyncio.create_task(challenges.issue(TERMS, price=600, tier=2)) for _ in range(20)]
    await asyncio.sleep(0.05)
    source.release.set()
    results = await asyncio.gather(*racers, return_exceptions=True)
    issued = {r.challenge_id for r in results if not isinstance(r, BaseException)}
    pending = [r for r in results if isinstance(r, ChallengePending)]
    assert source.calls == 1 and len(issued) == 1
    assert len(issued) + len(pending) >= 1 and all(
        not isinstance(r, BaseException) or isinstance(r, ChallengePending) for r in results
    )


async def test_a_failed_composition_frees_the_slot() -> None:
    class Failing(FixedWordSource):
        fail = True

        async def compose(self, spec: PuzzleSpec) -> ComposedPuzzle:
            if self.fail:
                self.fail = False
                raise RuntimeError("bank hiccup")
            return await super().compose(spec)

    clock = ManualClock()
    challenges = ChallengeService(
        MemoryStore(clock=clock), Failing(), PassCodec(KeyRing.generate(), clock=clock), clock=clock
    )
    with pytest.raises(RuntimeError):
        await challenges.issue(TERMS, price=600, tier=2)
    assert not (await challenges.issue(TERMS, price=600, tier=2)).reused


def test_solve_floor_is_a_policy_term_and_bad_values_name_the_rule() -> None:
    policy = parse_policy(
        "rules:\n  - {name: api, match: {path: /api/}, action: challenge, price: 900,"
        " solve_floor: 12}\n"
    )
    (rule,) = [r for r in policy.terms() if r.scope == "policy:api"]
    assert rule.solve_floor == 12.0
    plain = Rule("/x/", price=900)
    assert plain.solve_floor is None and plain.digest == Rule("/x/", price=900).digest
    assert Rule("/x/", price=900, solve_floor=3).digest != plain.digest  # terms re-challenge
    with pytest.raises(ConfigError, match=r"rule 1 \('api'\).*solve_floor"):
        parse_policy("rules:\n  - {name: api, action: challenge, price: 900, solve_floor: -1}\n")


# -- over HTTP -----------------------------------------------------------------------------------


async def _ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _client(clock: ManualClock, **settings: object) -> tuple[TestClient, FixedWordSource]:
    source = FixedWordSource()
    gk = Gatekeeper(
        MemoryStore(clock=clock),
        source,
        PassCodec(KeyRing.generate(), clock=clock),
        RuleSet([Rule("/paid/", price=1_500, budget=2)]),
        GateSettings(**settings),  # type: ignore[arg-type]
        clock=clock,
    )
    app = Starlette(routes=[Route("/{path:path}", _ok)])
    return TestClient(GateMiddleware(app, gk), client=(ALICE, 4000)), source


def test_over_http_an_early_answer_gets_429_with_retry_after_and_the_same_challenge_stays(
    solve_floor: None,
) -> None:
    clock = ManualClock(start=5_000.0)
    client, source = _client(clock)
    first = client.get("/paid/a", headers={"Accept": "application/json"})
    challenge = first.json()["challenge"]
    assert challenge["floor"] == 6.0 and challenge["not_before"] == 5_006
    assert all("id" not in clue for gate in challenge["puzzle"]["gates"] for clue in gate["clues"])

    # Asking again: the same challenge, no new clues.
    again = client.get("/paid/b", headers={"Accept": "application/json"}).json()["challenge"]
    assert again["id"] == challenge["id"] and again["puzzle"] == challenge["puzzle"]

    early = client.post(challenge["url"], json={"answers": [source.issued[-1]]})
    assert early.status_code == 429 and early.headers["retry-after"] == "6"
    body = early.json()
    assert body["error"] == "too_early" and body["retry_after"] == 6
    assert "x-attempts-left" not in early.headers
    assert (
        client.get(challenge["url"], headers={"Accept": "application/json"}).json()["challenge"][
            "attempts"
        ]
        == challenge["attempts"]
    )

    # A person's form at the same moment: the puzzle again, with the note and Retry-After.
    clock.advance(6)
    solved = client.post(challenge["url"], json={"answers": [source.issued[-1]]})
    assert solved.status_code == 200 and solved.json()["pass"]


def test_a_person_gets_the_human_floor_and_the_puzzle_again_on_an_early_answer(
    solve_floor: None,
) -> None:
    clock = ManualClock(start=5_000.0)
    client, source = _client(clock, human_floor=3.0)
    html = {"Accept": "text/html"}
    page = client.get("/paid/a", headers=html)
    action = page.text.split('action="')[1].split('"')[0]
    early = client.post(action, data={"answer": source.issued[-1]}, headers=html)
    assert early.status_code == 429 and early.headers["retry-after"] == "3"
    assert "no attempt was used" in early.text and "<form" in early.text
    clock.advance(3)
    done = client.post(
        action, data={"answer": source.issued[-1]}, headers=html, follow_redirects=False
    )
    assert done.status_code == 303


def test_the_documented_floor_defaults_are_the_ones_in_force() -> None:
    from gate.config import SETTINGS, GateConfig

    assert float(SETTINGS["GATE_DECODE_RATE"][0]) == _FLOOR_DEFAULTS[0]
    assert float(SETTINGS["GATE_HUMAN_FLOOR"][0]) == _FLOOR_DEFAULTS[1]
    settings = GateConfig.from_env({"GATE_DECODE_RATE": "100", "GATE_HUMAN_FLOOR": "9"}).gate
    assert (settings.decode_rate, settings.human_floor) == (100.0, 9.0)
    with pytest.raises(ConfigError, match="GATE_DECODE_RATE must be a number of tokens/s between"):
        GateConfig.from_env({"GATE_DECODE_RATE": "0"})
