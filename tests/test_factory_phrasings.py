"""LLM phrasings of grounded facts: several model-written, verified clues per fact.

The unit tests run the real ``LLMPool`` against fake OpenAI-compatible servers on
``httpx2.MockTransport``: ``gen.test`` writes clues, ``solve.test`` answers them, each from a
script, and both report usage in their streams, so the token accounting is exact.  SQL tests run on
SQLite and PostgreSQL.  The last test runs a phrasing job against the real SmolLM2-135M-Instruct
worker (marker ``model``): plumbing only, a 135M model cannot write real clues.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from puzzles.bank import ClueBank
from puzzles.draft import ClueDraft
from puzzles.factory import (
    IMPORTED,
    MODEL,
    TEMPLATE,
    Usage,
    phrasing_counts,
    phrasing_kind,
)
from puzzles.factory.costs import factory_costs
from puzzles.factory.generate import PHRASING_PREFIX, Target, grounded_targets, phrasing_target
from puzzles.factory.jobs import GenerateSettings, run_phrase_job
from puzzles.factory.parse import DUPLICATE, LEAKED, LLM_ERROR, MALFORMED, UNSOLVED
from puzzles.factory.prompts import AVOID_SHOWN, generation_messages
from puzzles.factory.verify import ANSWER, INITIAL, Solver, same_initial
from puzzles.knowledge.facts import Fact
from puzzles.llm import Backend, LLMPool
from puzzles.models import Clue, FactoryItem, FactoryJob

_clues = Clue.__table__
_items = FactoryItem.__table__
_jobs = FactoryJob.__table__

Messages = Sequence[dict[str, str]]
AVOID_HEADER = "Already written"


# -- fake OpenAI-compatible servers -----------------------------------------------------------------


def _sse(model: str, text: str, prompt_tokens: int, completion_tokens: int) -> httpx2.Response:
    def chunk(delta: dict[str, str], finish: str | None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    usage = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    events = [chunk({"content": text}, None), chunk({}, "stop"), usage]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)


class FakeModels:
    """``gen.test`` replies with ``write(messages)``, ``solve.test`` with ``answer(messages)``.

    Usage is a function of the request, recorded per host, so tests compare the job's accounting
    with what the servers charged.
    """

    def __init__(self, write: Callable[[Messages], str], answer: Callable[[Messages], str]) -> None:
        self.replies = {"gen": write, "solve": answer}
        self.requests: dict[str, list[list[dict[str, str]]]] = {"gen": [], "solve": []}
        self.usage = {"gen": Usage(), "solve": Usage()}

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host.removesuffix(".test")
        if not request.url.path.endswith("/chat/completions"):
            return httpx2.Response(200, json={"object": "list", "data": []})
        messages = json.loads(request.content)["messages"]
        self.requests[host].append(messages)
        text = self.replies[host](messages)
        prompt, completion = 50 + len(messages[-1]["content"]) // 4, 1 + len(text) // 4
        self.usage[host] += Usage(prompt, completion, 1)
        return _sse(f"model-{host}", text, prompt, completion)


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(_route))
    yield client
    await client.aclose()


_SERVERS: list[FakeModels] = []  # the current test's servers (one test at a time per process)


async def _route(request: httpx2.Request) -> httpx2.Response:
    return await _SERVERS[-1].handle(request)


def _pools(
    http: httpx2.AsyncClient, models: FakeModels
) -> tuple[LLMPool, list[Solver], list[LLMPool]]:
    _SERVERS.append(models)

    def pool(name: str) -> LLMPool:
        backend = Backend(
            name=name,
            base_url=f"http://{name}.test/v1",
            model=f"model-{name}",
            capabilities=frozenset({"chat", "json"}),
            timeout=5.0,
        )
        return LLMPool([backend], http_client=http, retries=0)

    gen, solve = pool("gen"), pool("solve")
    return gen, [Solver(solve, "model-solve")], [gen, solve]


async def _close(pools: list[LLMPool]) -> None:
    for pool in pools:
        await pool.aclose()
    _SERVERS.clear()


def _fields(messages: Messages) -> dict[str, str]:
    """The target of a generation prompt ("Answer", "Letter"...) and its texts to avoid."""
    fields: dict[str, str] = {}
    avoid: list[str] = []
    in_avoid = False
    for line in messages[-1]["content"].splitlines():
        if line.startswith(AVOID_HEADER):
            in_avoid = True
        elif in_avoid and line.startswith("- "):
            avoid.append(line[2:])
        else:
            key, sep, value = line.partition(": ")
            if sep:
                fields[key] = value
    fields["avoid"] = json.dumps(avoid)
    return fields


def writer(phrasings: dict[str, list[str]]) -> Callable[[Messages], str]:
    """A generator that writes, for a fact, the next scripted reply it has not written and the
    prompt does not list as already written (a well-behaved model); out of new ones, it repeats
    the last.  A reply starting with "!" is sent as it is (not JSON)."""
    written: dict[str, set[str]] = {}

    def write(messages: Messages) -> str:
        fields = _fields(messages)
        answer, avoid = fields["Answer"], json.loads(fields["avoid"])
        script, used = phrasings[answer], written.setdefault(fields["Answer"], set())
        text = next((t for t in script if t not in avoid and t not in used), script[-1])
        used.add(text)
        return text if text.startswith("!") else json.dumps({"answer": answer, "clue": text})

    return write


def solver(solutions: dict[str, str]) -> Callable[[Messages], str]:
    def answer(messages: Messages) -> str:
        text = re.sub(r"^\[[^\]]*\]\s*", "", messages[-1]["content"])
        return json.dumps({"answer": solutions.get(text, "Unknown")})

    return answer


def _fact(answer: str, relation: str, domain: str = "Geography") -> Fact:
    return Fact(domain, answer, f"- A true statement about the {relation}.", 1, relation)


OSLO_1 = "Which city is the capital of the country whose internet domain is .no?"
OSLO_2 = "Name the capital of the Nordic kingdom whose calling code is +47."
ARGON_1 = "Which noble gas has atomic number eighteen?"
ARGON_2 = "Which element follows chlorine by atomic number?"
OSLO_TEMPLATE = "What is the capital city of Norway?"
FACTS = [_fact("Oslo", "capital"), _fact("Argon", "element", "Chemistry")]
SOLUTIONS = {OSLO_1: "Oslo", OSLO_2: "oslo", ARGON_1: "Argon", ARGON_2: "the argon"}
FACTS_TARGETS = grounded_targets(2, facts=FACTS)


async def _rows(engine: AsyncEngine, table: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(table).order_by(table.c.id))).all())


# -- phrasing kind ----------------------------------------------------------------------------------


def test_phrasing_kind_is_read_from_the_source() -> None:
    assert phrasing_kind("builtin:countries") == TEMPLATE
    assert phrasing_kind("llm:SmolLM2-135M-Instruct") == MODEL
    assert phrasing_kind("import:gates.csv+solver") == IMPORTED
    assert phrasing_kind("") == IMPORTED and phrasing_kind("operator") == IMPORTED
    counts = phrasing_counts({"builtin:a": 3, "builtin:b": 2, "llm:m": 4})
    assert counts == {TEMPLATE: 5, MODEL: 4, IMPORTED: 0}


# -- targets and prompts ----------------------------------------------------------------------------


def test_phrasing_targets_are_grounded_facts_with_a_phrasing_relation() -> None:
    (target,) = grounded_targets(1, facts=[_fact("Oslo", "capital")])
    phrasing = phrasing_target(target)
    assert phrasing.relation == f"{PHRASING_PREFIX}capital" and phrasing.answer == "Oslo"
    assert phrasing_target(phrasing) == phrasing
    with pytest.raises(ValueError, match="grounded"):
        phrasing_target(Target("Music", "o", 1))


def test_texts_to_avoid_follow_the_fact_and_leave_the_shared_prefix_alone() -> None:
    texts = [f"Earlier clue number {n} about this answer?" for n in range(AVOID_SHOWN + 2)]
    plain = generation_messages(domain="Geography", letter="o", tier=1, answer="Oslo", facts="- x")
    avoid = generation_messages(
        domain="Geography",
        letter="o",
        tier=1,
        answer="Oslo",
        facts="- x",
        avoid=[*texts, texts[-1]],
    )
    assert avoid[:-1] == plain[:-1]  # the prefix cache still applies
    assert avoid[-1]["content"].startswith(plain[-1]["content"])
    shown = json.loads(_fields(avoid)["avoid"])
    assert shown == texts[-AVOID_SHOWN:]  # the newest, each once
    assert AVOID_HEADER not in plain[-1]["content"]


def test_the_initial_match_reads_initials_only() -> None:
    assert same_initial("Odense", "Oslo") and same_initial("the Oslo fjord", "Oslo")
    assert not same_initial("Bergen", "Oslo") and not same_initial("", "Oslo")


# -- the job ---------------------------------------------------------------------------------------


async def test_a_phrase_job_writes_distinct_verified_phrasings_marked_with_their_model(
    engine: AsyncEngine, http: httpx2.AsyncClient
) -> None:
    await ClueBank(engine).add_clues(
        [ClueDraft("Geography", OSLO_TEMPLATE, "Oslo", 1, "builtin:countries", "capital")]
    )
    models = FakeModels(
        writer({"Oslo": [OSLO_1, OSLO_2], "Argon": [ARGON_1, ARGON_2]}), solver(SOLUTIONS)
    )
    gen, solvers, pools = _pools(http, models)
    try:
        report = await run_phrase_job(
            engine,
            gen,
            solvers,
            grounded_targets(2, facts=FACTS),
            per_fact=2,
            params={"test": "flow"},
            settings=GenerateSettings(attempts=1, concurrency=2),
        )
    finally:
        await _close(pools)
    assert (report.total, report.accepted, report.rejected) == (4, 4, 0)
    assert set(report.models) == {"model-gen", "model-solve"}
    assert report.gen_usage == models.usage["gen"] and report.solve_usage == models.usage["solve"]

    clues = [c for c in await _rows(engine, _clues) if c.source != "builtin:countries"]
    assert {c.text for c in clues} == {OSLO_1, OSLO_2, ARGON_1, ARGON_2}
    assert {c.source for c in clues} == {"llm:model-gen"} and {c.status for c in clues} == {
        "verified"
    }
    assert {(c.answer, c.relation) for c in clues} == {
        ("Oslo", "phrasing:capital"),
        ("Argon", "phrasing:element"),
    }
    # Each prompt lists what the bank (templates included) and the fact's earlier slots hold.
    oslo_prompts = [
        json.loads(_fields(m)["avoid"])
        for m in models.requests["gen"]
        if "Oslo" in m[-1]["content"]
    ]
    assert oslo_prompts == [[OSLO_TEMPLATE], [OSLO_TEMPLATE, OSLO_1]]
    # The solver never sees the answer (its few-shot examples are other answers).
    assert not any(
        word in m[-1]["content"] for m in models.requests["solve"] for word in ("Oslo", "Argon")
    )
    jobs, items = await _rows(engine, _jobs), await _rows(engine, _items)
    assert [(j.kind, j.status, json.loads(j.params)["phrasings"]) for j in jobs] == [
        ("generate", "done", 2)
    ]
    assert {(i.gen_model, i.solver_models, i.status) for i in items} == {
        ("model-gen", "model-solve", "accepted")
    }
    assert sum(i.gen_prompt_tokens + i.gen_completion_tokens for i in items) == (
        models.usage["gen"].total
    )
    # Phrasings are generate work: the factory's cost table counts them.
    costs = await factory_costs(engine)
    assert costs.accepted == 4 and costs.generator_models == ("model-gen",)
    counts = await ClueBank(engine).counts()
    assert phrasing_counts(counts.by_source) == {TEMPLATE: 1, MODEL: 4, IMPORTED: 0}


async def test_refused_phrasings_are_kept_with_their_reasons(
    engine: AsyncEngine, http: httpx2.AsyncClient
) -> None:
    leak = "Oslo is the capital of which Nordic country?"
    models = FakeModels(writer({"Oslo": [leak, "!not json", OSLO_1]}), solver({OSLO_1: "Bergen"}))
    gen, solvers, pools = _pools(http, models)
    try:
        report = await run_phrase_job(
            engine,
            gen,
            solvers,
            grounded_targets(1, facts=FACTS[:1]),
            per_fact=1,
            params={"test": "refused"},
            settings=GenerateSettings(attempts=3),
        )
    finally:
        await _close(pools)
    assert (report.accepted, report.rejected, report.reasons) == (0, 1, {UNSOLVED: 1})
    assert len(models.requests["gen"]) == 3 and len(models.requests["solve"]) == 1
    (item,) = await _rows(engine, _items)
    assert (item.status, item.reason, item.attempts) == ("rejected", UNSOLVED, 3)
    assert item.solve_completion_tokens > 0 and item.solver_models == "model-solve"
    rejections = json.loads(item.detail)["rejections"]
    assert [r["reason"] for r in rejections] == [LEAKED, MALFORMED, UNSOLVED]
    # The validator's own words come along with the coarse reason code.
    assert rejections[0]["detail"] and rejections[0]["text"] == leak
    # The well-formed clue the solver could not answer is kept, rejected, with the reason.
    (clue,) = await _rows(engine, _clues)
    assert (clue.text, clue.status, clue.reject_reason) == (OSLO_1, "rejected", UNSOLVED)
    assert clue.source == "llm:model-gen" and clue.relation == "phrasing:capital"


async def test_an_initial_match_accepts_a_solver_that_reaches_the_letter(
    engine: AsyncEngine, http: httpx2.AsyncClient
) -> None:
    models = FakeModels(
        writer({"Oslo": [OSLO_1, OSLO_2]}), solver({OSLO_1: "Odda", OSLO_2: "Odda"})
    )
    gen, solvers, pools = _pools(http, models)

    async def run(relation: str, match: str) -> Any:
        return await run_phrase_job(
            engine,
            gen,
            solvers,
            grounded_targets(1, facts=[_fact("Oslo", relation)]),
            per_fact=1,
            params={"match": match},
            settings=GenerateSettings(attempts=1, match=match),
        )

    try:
        strict = await run("capital", ANSWER)
        loose = await run("city", INITIAL)
    finally:
        await _close(pools)
    assert strict.reasons == {UNSOLVED: 1} and loose.accepted == 1
    # The refused text was shown as already written, so the second fact got a new one.
    clues = {c.text: c for c in await _rows(engine, _clues)}
    assert (clues[OSLO_1].status, clues[OSLO_1].reject_reason) == ("rejected", UNSOLVED)
    assert (clues[OSLO_2].status, clues[OSLO_2].relation) == ("verified", "phrasing:city")


async def test_running_again_adds_only_the_missing_phrasings(
    engine: AsyncEngine, http: httpx2.AsyncClient
) -> None:
    script = {"Oslo": [OSLO_1, OSLO_2], "Argon": [ARGON_1]}  # Argon: one phrasing only
    models = FakeModels(writer(script), solver(SOLUTIONS))
    gen, solvers, pools = _pools(http, models)

    async def run() -> Any:
        return await run_phrase_job(
            engine,
            gen,
            solvers,
            grounded_targets(2, facts=FACTS),
            per_fact=2,
            params={"test": "again"},
            settings=GenerateSettings(attempts=2),
        )

    try:
        first = await run()
        assert (first.total, first.accepted, first.reasons) == (4, 3, {DUPLICATE: 1})
        calls = len(models.requests["gen"])
        again = await run()  # only Argon's second slot is missing
        assert (again.total, again.accepted, again.rejected) == (1, 0, 1)
        assert len(models.requests["gen"]) == calls + 2
        script["Argon"].insert(0, ARGON_2)
        filled = await run()
        assert (filled.total, filled.accepted) == (1, 1)
        calls = len(models.requests["gen"])
        done = await run()
        assert (done.total, done.accepted, done.rejected) == (0, 0, 0)
        assert len(models.requests["gen"]) == calls  # nothing asked
    finally:
        await _close(pools)
    phrasings = [c for c in await _rows(engine, _clues) if c.status == "verified"]
    assert sorted(c.text for c in phrasings) == sorted([OSLO_1, OSLO_2, ARGON_1, ARGON_2])
    assert [j.status for j in await _rows(engine, _jobs)] == ["done"] * 4


async def test_an_interrupted_phrase_job_resumes_its_pending_slots(
    engine: AsyncEngine, http: httpx2.AsyncClient
) -> None:
    models = FakeModels(
        writer({"Oslo": [OSLO_1, OSLO_2], "Argon": [ARGON_1, ARGON_2]}), solver(SOLUTIONS)
    )
    gen, solvers, pools = _pools(http, models)

    def stop(_outcome: Any) -> None:
        raise RuntimeError("killed")  # like a kill after the first slot is stored

    options: dict[str, Any] = {
        "per_fact": 2,
        "params": {"test": "resume"},
        "settings": GenerateSettings(attempts=1, concurrency=1),
    }
    try:
        with pytest.raises(ExceptionGroup) as info:  # the job's TaskGroup wraps it
            await run_phrase_job(engine, gen, solvers, FACTS_TARGETS, on_item=stop, **options)
        assert info.group_contains(RuntimeError, match="killed")
        starts: list[tuple[int, int]] = []
        resumed = await run_phrase_job(
            engine,
            gen,
            solvers,
            FACTS_TARGETS,
            on_start=lambda total, done: starts.append((total, done)),
            **options,
        )
    finally:
        await _close(pools)
    assert starts == [(4, 1)] and (resumed.accepted, resumed.done_before) == (3, 1)
    texts = [c.text for c in await _rows(engine, _clues)]
    assert sorted(texts) == sorted([OSLO_1, OSLO_2, ARGON_1, ARGON_2])
    # The resumed slot of the first fact was asked to differ from the phrasing stored before.
    assert len(models.requests["gen"]) == 4
    assert json.loads(_fields(models.requests["gen"][1])["avoid"]) == [OSLO_1]


async def test_pool_failures_leave_no_clue_and_a_reason(
    engine: AsyncEngine, http: httpx2.AsyncClient
) -> None:
    def down(_messages: Messages) -> str:
        raise httpx2.ConnectError("refused")

    models = FakeModels(down, solver({}))
    gen, solvers, pools = _pools(http, models)
    try:
        report = await run_phrase_job(
            engine,
            gen,
            solvers,
            grounded_targets(1, facts=FACTS[:1]),
            per_fact=1,
            params={},
            settings=GenerateSettings(attempts=1),
        )
    finally:
        await _close(pools)
    assert report.reasons == {LLM_ERROR: 1} and not await _rows(engine, _clues)
    with pytest.raises(ValueError, match="per_fact"):
        await run_phrase_job(engine, gen, solvers, [], per_fact=0, params={})


# -- CLI --------------------------------------------------------------------------------------------


def test_cli_refuses_phrasings_without_facts_and_stats_count_phrasing_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from gate.cli import app
    from puzzles.db import create_engine
    from puzzles.migrations import create_schema

    monkeypatch.delenv("GATE_LLM_BACKENDS", raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'bank.db'}"
    runner = CliRunner()
    free = runner.invoke(app, ["puzzles", "generate", "--mode", "free", "--phrasings", "2"])
    assert free.exit_code == 2 and "--phrasings needs --mode grounded" in free.output
    bad = runner.invoke(app, ["puzzles", "generate", "--phrasings", "2", "--match", "close"])
    assert bad.exit_code == 2 and "--match" in bad.output

    async def fill() -> None:
        engine = create_engine(url)
        try:
            await create_schema(engine)
            await ClueBank(engine).add_clues(
                [
                    ClueDraft("Geography", OSLO_TEMPLATE, "Oslo", 1, "builtin:countries"),
                    ClueDraft("Geography", OSLO_1, "Oslo", 1, "llm:m", "phrasing:capital"),
                    ClueDraft("Geography", OSLO_2, "Oslo", 1, "llm:m", "phrasing:capital"),
                    ClueDraft("Chemistry", ARGON_1, "Argon", 1, "import:clues.csv"),
                ]
            )
        finally:
            await engine.dispose()

    asyncio.run(fill())
    stats = runner.invoke(app, ["puzzles", "stats", "--database-url", url])
    assert stats.exit_code == 0 and "Clues by phrasing kind" in stats.output, stats.output
    rows = {
        cells[0]: cells[1]
        for line in stats.output.splitlines()
        if len(cells := [c.strip() for c in line.strip("│┃ ").split("│")]) == 2
    }
    assert (rows["template"], rows["model"], rows["imported"]) == ("1", "2", "1")


# -- the real model ---------------------------------------------------------------------------------


@pytest.mark.model
async def test_a_phrase_job_runs_against_the_smollm2_worker(
    smollm2_server: str, tmp_path: Path
) -> None:
    """Plumbing, not quality: the model's name marks every stored phrasing, every candidate that
    passed screening went to the solver, every rejection has a reason, every token is counted."""
    from puzzles.db import create_engine
    from puzzles.migrations import create_schema

    model = httpx2.get(f"{smollm2_server}/health", timeout=5).json()["model"]
    # A long timeout: on a busy two-core machine the worker decodes about one token a second.
    backend = Backend(name="ci", base_url=f"{smollm2_server}/v1", model=model, timeout=600.0)
    pool = LLMPool([backend])
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bank.db'}")
    facts = [f for f in grounded_targets(400, seed=0, tiers=[1]) if f.domain == "Chemistry"][:2]
    try:
        await create_schema(engine)
        report = await run_phrase_job(
            engine,
            pool,
            [Solver(pool, model)],
            facts,
            per_fact=2,
            params={"model-test": True},
            # Temperature 0 keeps the run repeatable (the list of texts to avoid still varies the
            # prompts); short replies keep it within minutes on a CPU.
            settings=GenerateSettings(
                attempts=1,
                concurrency=2,
                temperature=0.0,
                match=INITIAL,
                max_tokens=80,
                solver_max_tokens=16,
            ),
        )
        items = await _rows(engine, _items)
        clues = {c.id: c for c in await _rows(engine, _clues)}
    finally:
        await pool.aclose()
        await engine.dispose()
    assert report.total == 4 and report.accepted + report.rejected == 4
    assert report.gen_usage.calls == 4 and report.gen_usage.total > 0
    # At temperature 0 at least one of these facts' replies is a well-formed clue (seen: the first
    # Fluorine one, then refused by the solver), so the job's verify call is exercised.
    assert report.solve_usage.calls >= 1 and model in report.models
    for item in items:
        assert item.gen_model == model and item.gen_prompt_tokens > 0
        rejections = json.loads(item.detail)["rejections"]
        assert all(r["reason"] for r in rejections)
        # A candidate that passed screening was verified: one solver call per such candidate.
        verified = [r for r in rejections if r["reason"] in (UNSOLVED, "ambiguous")]
        if item.status == "accepted":
            verified.append({"accepted": True})
        assert (item.solve_completion_tokens > 0) == bool(verified)
        if item.status == "rejected":
            assert item.reason
        else:
            clue = clues[item.clue_id]
            assert clue.source == f"llm:{model}" and clue.status == "verified"
            assert clue.relation.startswith(PHRASING_PREFIX)
    for clue in clues.values():
        assert clue.source == f"llm:{model}" and clue.relation.startswith(PHRASING_PREFIX)
        assert clue.status == "verified" or clue.reject_reason
    spent = sum(
        i.gen_prompt_tokens
        + i.gen_completion_tokens
        + i.solve_prompt_tokens
        + i.solve_completion_tokens
        for i in items
    )
    assert spent == report.gen_usage.total + report.solve_usage.total
