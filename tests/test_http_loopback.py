"""The whole flow over real HTTP: uvicorn on a loopback port, the real clue bank, real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from gate.config import GateConfig
from gate.epoch import current_epoch
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.store import RedisStore
from middleware import BUDGET_HEADER
from middleware.demo import DEMO_RULES, demo_app
from puzzles.db import create_engine
from serving.runtime import Runtime, open_runtime
from tests.bank_solver import BankSolver
from tests.support import delete_keys, key_prefix, on_loopback

JSON = {"Accept": "application/json"}


@pytest.fixture
async def runtime(seeded_state: Path, redis_url: str) -> AsyncIterator[Runtime]:
    store = RedisStore.from_url(redis_url, prefix=key_prefix("e2e"))
    config = GateConfig.from_env({}, state_dir=seeded_state)
    opened = await open_runtime(config, DEMO_RULES, store=store, seed=False)
    try:
        yield opened
    finally:
        await opened.close()
        await delete_keys(redis_url, store.prefix)


@pytest.fixture
async def site(runtime: Runtime) -> AsyncIterator[tuple[httpx2.AsyncClient, BankSolver]]:
    solver = await BankSolver.load(runtime.engine)  # type: ignore[arg-type]
    async with (
        on_loopback(demo_app(runtime.gatekeeper), log_level="info") as base,
        httpx2.AsyncClient(base_url=base) as client,
    ):
        yield client, solver


async def test_an_agent_is_challenged_pays_spends_its_budget_and_is_challenged_again(site) -> None:
    client, solver = site
    assert (await client.get("/")).status_code == 200
    unpaid = await client.get("/articles/1", headers=JSON)
    assert unpaid.status_code == 401 and unpaid.headers["www-authenticate"].startswith(
        "ReasoningGate "
    )
    challenge = unpaid.json()["challenge"]

    from gate.puzzle import puzzle_from_dict

    answers = solver.solve(puzzle_from_dict(challenge["puzzle"]))
    wrong = await client.post(challenge["url"], json={"answers": ["x" * len(a) for a in answers]})
    assert wrong.status_code == 400 and wrong.json()["challenge"]["attempts"] == 4

    solved = await client.post(challenge["url"], json={"answers": answers})
    assert solved.status_code == 200, solved.text
    authorization = {"Authorization": solved.json()["authorization"], **JSON}
    client.cookies.clear()  # spend through the header, as a program would

    remaining = []
    for number in range(1, 6):
        page = await client.get(f"/articles/{number}", headers=authorization)
        assert page.status_code == 200
        remaining.append(int(page.headers[BUDGET_HEADER]))
    assert remaining == [4, 3, 2, 1, 0]
    spent = await client.get("/articles/6", headers=authorization)
    assert spent.status_code == 401 and spent.json()["reason"] == "exhausted"

    replay = await client.post(challenge["url"], json={"answers": answers})
    assert replay.status_code == 410


async def test_a_person_solves_the_form_and_reads_on_with_the_cookie(site) -> None:
    client, solver = site
    html = {"Accept": "text/html"}
    page = await client.get("/articles/3", headers=html)
    assert page.status_code == 401 and "<form" in page.text
    challenge_url = page.headers["www-authenticate"].split('challenge="')[1].split('"')[0]
    challenge = (await client.get(challenge_url, headers=JSON)).json()["challenge"]
    assert challenge["puzzle"]["tier"] == 1  # people get the easier tier

    from gate.puzzle import puzzle_from_dict

    answers = solver.solve(puzzle_from_dict(challenge["puzzle"]))
    solved = await client.post(
        challenge_url,
        data={"answer": answers, "next": "/articles/3"},
        headers=html,
        follow_redirects=True,
    )
    assert solved.status_code == 200 and "Article 3" in solved.text
    assert solved.headers[BUDGET_HEADER] == "4"


async def test_tampered_and_foreign_passes_are_challenged(site, runtime: Runtime) -> None:
    client, _ = site
    rule = DEMO_RULES.match("/articles/1")
    subject = runtime.gatekeeper.identity(__import__("gate").Visitor(path="/", peer="127.0.0.1"))
    foreign, _ = PassCodec(KeyRing.generate()).mint(
        subject=subject, scope=rule.scope, rule=rule.digest, budget=5, price=1, ttl=60
    )
    genuine, _ = runtime.gatekeeper.passes.mint(
        subject=subject,
        scope=rule.scope,
        rule=rule.digest,
        budget=5,
        price=1,
        ttl=60,
        epoch=await current_epoch(runtime.gatekeeper.store, subject),
    )
    middle = len(genuine) - 40  # inside the signature, away from its padding bits
    tampered = genuine[:middle] + ("B" if genuine[middle] == "A" else "A") + genuine[middle + 1 :]
    for token, reason in ((foreign, "invalid"), (tampered, "invalid"), (genuine, None)):
        response = await client.get(
            "/articles/1", headers={"Authorization": f"ReasoningGate {token}", **JSON}
        )
        if reason is None:
            assert response.status_code == 200
        else:
            assert response.status_code == 401 and response.json()["reason"] == reason


async def test_agents_asking_for_markdown_read_the_puzzle_as_text(site) -> None:
    client, _ = site
    response = await client.get("/api/data", headers={"Accept": "text/markdown"})
    assert response.status_code == 401 and response.text.startswith("# Pass required")
    assert (await client.get("/private/x")).status_code == 403


async def test_serve_counts_reach_the_bank_when_the_gate_stops(
    seeded_state: Path, redis_url: str
) -> None:
    from sqlalchemy import func, select

    from puzzles.models import Clue

    store = RedisStore.from_url(redis_url, prefix=key_prefix("e2e"))
    config = GateConfig.from_env({}, state_dir=seeded_state)
    opened = await open_runtime(config, DEMO_RULES, store=store, seed=False)
    engine = opened.engine
    async with engine.connect() as connection:  # type: ignore[attr-defined]
        before = (await connection.execute(select(func.sum(Clue.times_served)))).scalar() or 0
    from gate import Challenge, Visitor

    decision = await opened.gatekeeper.decide(Visitor(path="/articles/1", peer="192.0.2.50"))
    assert isinstance(decision, Challenge)
    served = sum(gate.length for gate in decision.challenge.puzzle.gates)
    await opened.close()
    await delete_keys(redis_url, store.prefix)
    engine = create_engine(f"sqlite+aiosqlite:///{seeded_state / 'gate.db'}")
    try:
        async with engine.connect() as connection:
            after = (await connection.execute(select(func.sum(Clue.times_served)))).scalar()
    finally:
        await engine.dispose()
    assert after - before == served
