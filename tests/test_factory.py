"""The puzzle factory: parsing, screening, verification, calibration, resumable jobs, import/export.

Model calls go to scripted fake pools at the ``chat`` seam (``puzzles.factory.ChatPool``), so every
rejection reason and every token can be asserted exactly.  SQL tests run on SQLite and PostgreSQL.
The last test drives the real pipeline against the CI model (marker ``model``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gate.errors import GateError
from puzzles.bank import ClueBank, text_key
from puzzles.draft import ClueDraft
from puzzles.factory import Usage, call_tags
from puzzles.factory.calibrate import TOKEN_BOUNDS, calibrate_clue, summarise, tier_for
from puzzles.factory.clue_files import export_clues, import_clue_rows, import_clues
from puzzles.factory.costs import factory_costs, tier_costs
from puzzles.factory.gate_files import NO_SOLVER, export_gates, import_gates, read_gate_rows
from puzzles.factory.gates import parse_puzzle_text
from puzzles.factory.generate import (
    FREE,
    GROUNDED,
    Target,
    free_targets,
    generate_candidate,
    grounded_targets,
    load_facts,
)
from puzzles.factory.jobs import (
    GenerateSettings,
    llm_answers,
    run_calibrate_job,
    run_generate_job,
    run_verify_job,
)
from puzzles.factory.parse import (
    AMBIGUOUS,
    ANSWER_CHANGED,
    DUPLICATE,
    LEAKED,
    LLM_ERROR,
    MALFORMED,
    TOO_LONG,
    TOO_SHORT,
    UNSAFE,
    UNSOLVED,
    WRONG_INITIAL,
    ParseError,
    parse_candidate,
    parse_solution,
    screen,
)
from puzzles.factory.prompts import GENERATE_SYSTEM, generation_messages, solve_messages
from puzzles.factory.verify import Attempt, Solver, judge, same_answer, verify_clue
from puzzles.knowledge.facts import Fact, fact_triples
from puzzles.llm import CallTags, Completion, LLMUnavailable
from puzzles.models import Clue, FactoryItem, FactoryJob

_clues = Clue.__table__
_items = FactoryItem.__table__
_jobs = FactoryJob.__table__
TAGS = call_tags("test")


# -- scripted pools ---------------------------------------------------------------------------------


class ScriptedPool:
    """A fake ``LLMPool``: ``respond(messages)`` gives the reply text; usage is deterministic."""

    def __init__(self, model: str, respond: Callable[[Sequence[dict[str, str]]], str]) -> None:
        self.model = model
        self.respond = respond
        self.calls = 0
        self.usage = Usage()

    async def chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        tags: Any,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> Completion:
        assert tags.job_class == "batch" and tags.tenant == "factory"
        self.calls += 1
        text = self.respond(messages)
        completion = Completion(
            text=text,
            prompt_tokens=100 + len(messages[-1]["content"]) // 4,
            completion_tokens=1 + len(text) // 4,
            backend="fake",
            model=self.model,
            latency_s=0.0,
            usage_reported=True,
        )
        self.usage += Usage.of(completion)
        return completion


def target_fields(messages: Sequence[dict[str, str]]) -> dict[str, str]:
    """The variable part of a generation prompt, as a dict ("Answer", "Letter"...)."""
    fields: dict[str, str] = {}
    for line in messages[-1]["content"].splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key] = value
    return fields


def clue_of(messages: Sequence[dict[str, str]]) -> str:
    """The clue text of a solver prompt: its last message is '[Domain] text'."""
    return re.sub(r"^\[[^\]]*\]\s*", "", messages[-1]["content"])


def generator(replies: dict[str, list[str]]) -> Callable[[Sequence[dict[str, str]]], str]:
    """Replies by target answer (or by letter in free mode), one per attempt; the last repeats."""
    seen: dict[str, int] = {}

    def respond(messages: Sequence[dict[str, str]]) -> str:
        fields = target_fields(messages)
        key = fields["Answer"] if fields["Answer"] != "(you choose)" else fields["Letter"]
        n = seen.get(key, 0)
        seen[key] = n + 1
        script = replies[key]
        return script[min(n, len(script) - 1)]

    return respond


def solver_knowing(solutions: dict[str, str], reasoning: str = "") -> Callable[..., str]:
    def respond(messages: Sequence[dict[str, str]]) -> str:
        answer = solutions.get(clue_of(messages), "Unknown")
        if "reasoning" in messages[0]["content"]:
            return json.dumps({"reasoning": reasoning or "thinking", "answer": answer})
        return json.dumps({"answer": answer})

    return respond


def reply(answer: str, clue: str) -> str:
    return json.dumps({"answer": answer, "clue": clue})


def fact(answer: str, domain: str = "Geography", tier: int = 1) -> Fact:
    return Fact(domain, answer, f"- Facts about the thing in question (#{answer}).", tier, "test")


# -- prompts and parsing --------------------------------------------------------------------------


def test_prompts_share_their_prefix_and_end_with_the_variable_part() -> None:
    a = generation_messages(domain="Geography", letter="h", tier=2, answer="Helsinki", facts="- x")
    b = generation_messages(domain="Chemistry", letter="n", tier=1)
    assert a[:-1] == b[:-1] and a[0]["content"] == GENERATE_SYSTEM
    assert "Helsinki" in a[-1]["content"] and "Letter: H" in a[-1]["content"]
    assert "Helsinki" not in b[-1]["content"]
    # The solver never sees the answer: only domain and clue text are variable.
    solve = solve_messages(domain="Astronomy", text="Which moon is the largest of Saturn?")
    assert solve[-1]["content"] == "[Astronomy] Which moon is the largest of Saturn?"
    assert solve[:-1] == solve_messages(domain="X", text="Y")[:-1]


@pytest.mark.parametrize(
    "text",
    [
        '{"answer": "Neon", "clue": "Which noble gas glows red in signs?"}',
        '```json\n{"answer": "Neon", "clue": "Which noble gas glows red in signs?"}\n```',
        '  ```\n{"answer": "Neon", "clue": "Which noble gas glows red in signs?"}```  ',
    ],
)
def test_parsing_accepts_one_object_optionally_fenced(text: str) -> None:
    assert parse_candidate(text) == ("Neon", "Which noble gas glows red in signs?")


@pytest.mark.parametrize(
    "text",
    [
        "Sure! Here is a clue: Which noble gas glows red?",
        'Here you go: {"answer": "Neon", "clue": "Which noble gas glows red?"}',
        '{"answer": "Neon"}',
        '{"answer": "Neon", "clue": "Which noble gas glows red?", "note": "easy"}',
        '{"answer": 10, "clue": "Which noble gas glows red?"}',
        '["Neon", "Which noble gas glows red?"]',
        '{"answer": "Neon", "clue": "Which noble gas',
    ],
)
def test_parsing_rejects_anything_else_as_malformed(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_candidate(text)
    assert info.value.reason == MALFORMED


def test_solver_replies_may_carry_reasoning_but_nothing_else() -> None:
    assert parse_solution('{"reasoning": "a, so b", "answer": "Oslo"}') == "Oslo"
    assert parse_solution('{"answer": "Oslo"}') == "Oslo"
    with pytest.raises(ParseError):
        parse_solution('{"reasoning": "no answer"}')


def _draft(text: str, answer: str) -> ClueDraft:
    return ClueDraft("Geography", text, answer, 2, "llm:test")


@pytest.mark.parametrize(
    ("text", "answer", "expected", "reason"),
    [
        ("Which city is the capital of Finland?", "Helsinki", None, None),
        ("Which city is the capital of Finland?", "Espoo", "Helsinki", ANSWER_CHANGED),
        ("Which city is the capital of Finland?", "Tampere", None, WRONG_INITIAL),
        ("Helsinki is which country's capital city?", "Helsinki", None, LEAKED),
        ("Capital?", "Helsinki", None, TOO_SHORT),
        ("Which city " + "really " * 40 + "is it?", "Helsinki", None, TOO_LONG),
        ("Which shit city is the capital of Finland?", "Helsinki", None, UNSAFE),
        ("What is the capital city of Norway?", "Helsinki", None, DUPLICATE),
    ],
)
def test_screening_gives_one_reason_code_per_failure(
    text: str, answer: str, expected: str | None, reason: str | None
) -> None:
    seen = {text_key("What is the capital city of NORWAY ?")}
    assert screen(_draft(text, answer), letter="h", expected_answer=expected, seen_keys=seen) == (
        reason
    )


def test_operators_can_extend_the_unsafe_words() -> None:
    draft = _draft("Which city hosts the Sibelius monument?", "Helsinki")
    assert screen(draft, letter="h") is None
    assert screen(draft, letter="h", extra_unsafe=["Sibelius"]) == UNSAFE


async def test_a_candidate_is_screened_and_reserved_against_duplicates() -> None:
    target = Target("Geography", "h", 2, "Helsinki", "- capital of Finland", "capital")
    good = reply("Helsinki", "Which city is the capital of the country whose domain is .fi?")
    pool = ScriptedPool("gen-model", lambda _m: good)
    seen: set[str] = set()
    first = await generate_candidate(pool, target, tags=TAGS, seen_keys=seen)
    assert first.reason is None and first.draft is not None
    assert first.draft.source == "llm:gen-model" and first.draft.answer == "Helsinki"
    assert first.usage.calls == 1 and first.usage.total == pool.usage.total
    again = await generate_candidate(pool, target, tags=TAGS, seen_keys=seen)
    assert again.reason == DUPLICATE and again.draft is None and again.usage.calls == 1


async def test_pool_failures_are_a_reason_not_a_crash() -> None:
    class DownPool:
        async def chat(self, messages: Any, **_: Any) -> Completion:
            raise LLMUnavailable("all backends down")

    target = Target("Music", "q", 1)
    candidate = await generate_candidate(DownPool(), target, tags=TAGS, seen_keys=set())
    assert candidate.reason == LLM_ERROR and candidate.usage == Usage()


# -- targets ----------------------------------------------------------------------------------------


def test_grounded_targets_come_from_the_built_in_facts_deterministically() -> None:
    facts = fact_triples()
    assert len(facts) > 300 and {f.domain for f in facts} >= {"Geography", "Chemistry"}
    targets = grounded_targets(20, seed=3)
    assert targets == grounded_targets(20, seed=3) != grounded_targets(20, seed=4)
    assert all(t.mode == GROUNDED and t.answer and t.facts for t in targets)
    assert all(t.letter == t.answer[0].lower() for t in targets if t.answer and t.answer.isascii())
    chem = grounded_targets(5, domains=["chemistry"], tiers=[1])
    assert {t.domain for t in chem} == {"Chemistry"} and {t.tier for t in chem} == {1}
    skip = {"hydrogen", "helium", "lithium", "beryllium", "boron"}
    assert (
        not {
            t.answer.lower()
            for t in grounded_targets(200, domains=["chemistry"], exclude=skip)
            if t.answer
        }
        & skip
    )


def test_free_targets_spread_domains_letters_and_tiers() -> None:
    targets = free_targets(30, seed=1, domains=["Music", "Physics"], letters="ab", tiers=[1, 3])
    assert len(targets) == 30 and all(t.mode == FREE and t.answer is None for t in targets)
    assert {(t.domain, t.letter, t.tier) for t in targets[:8]} == {
        (d, letter, tier) for d in ("Music", "Physics") for letter in "ab" for tier in (1, 3)
    }


def test_operator_facts_files_are_read_as_jsonl_or_csv(tmp_path: Path) -> None:
    jsonl = tmp_path / "facts.jsonl"
    jsonl.write_text(json.dumps({"domain": "Music", "answer": "Oboe", "facts": "- reed"}) + "\n")
    csv_file = tmp_path / "facts.csv"
    csv_file.write_text("domain,answer,facts,tier\nMusic,Oboe,- a double reed,3\n")
    assert load_facts(jsonl)[0].tier == 2 and load_facts(csv_file)[0].tier == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"domain": "Music"}) + "\n")
    with pytest.raises(ValueError, match="row 1"):
        load_facts(bad)


# -- verification and calibration ---------------------------------------------------------------


def _attempt(correct: bool, tokens: int = 100, error: str | None = None) -> Attempt:
    return Attempt("s", "m", None if error else "x", correct, Usage(10, tokens, 1), error)


def test_both_solvers_must_be_right_and_their_disagreement_is_ambiguity() -> None:
    assert judge([_attempt(True), _attempt(True)]).ok
    assert judge([_attempt(True), _attempt(False)]).reason == AMBIGUOUS
    assert judge([_attempt(False), _attempt(False)]).reason == UNSOLVED
    assert judge([_attempt(False, error=MALFORMED)]).reason == UNSOLVED
    assert judge([_attempt(False, error=LLM_ERROR)] * 2).reason == LLM_ERROR
    with pytest.raises(ValueError):
        judge([])


def test_answers_compare_normalised_and_without_a_leading_article() -> None:
    assert same_answer(" the NETHERLANDS. ", "Netherlands")
    assert same_answer("Côte-d'Ivoire", "cote d ivoire") is False  # accents matter, like serving
    assert same_answer("New York", "new-york") and not same_answer("Newark", "New York")


async def test_verification_runs_every_solver_without_showing_the_answer() -> None:
    clue = "Which city is the capital of the country whose domain is .no?"
    prompts: list[str] = []

    def knows(messages: Sequence[dict[str, str]]) -> str:
        prompts.append(json.dumps(messages))
        return json.dumps({"answer": "oslo"})

    right = Solver(ScriptedPool("solver-a", knows), "a")
    wrong = Solver(ScriptedPool("solver-b", lambda _m: json.dumps({"answer": "Bergen"})), "b")
    one = await verify_clue([right], domain="Geography", text=clue, answer="Oslo", tags=TAGS)
    assert one.ok and one.models == ("solver-a",) and one.usage.calls == 1
    two = await verify_clue([right, wrong], domain="Geography", text=clue, answer="Oslo", tags=TAGS)
    assert not two.ok and two.reason == AMBIGUOUS and two.usage.calls == 2
    assert not any("Oslo" in p for p in prompts)


def test_the_calibration_formula() -> None:
    # Both right at 100 tokens: p̂ = 2.5 / 3, expected = ceil(100 / p̂) = 120 -> tier 1.
    both = summarise([_attempt(True), _attempt(True)])
    assert (both.expected_tokens, both.tier, both.success_rate) == (120, 1, 1.0)
    # Half right: p̂ = 1.5 / 3 = 0.5 -> 200 tokens, but a 50 % success rate makes it tier 3.
    half = summarise([_attempt(True), _attempt(False)])
    assert (half.expected_tokens, half.tier) == (200, 3)
    # Nobody right: finite cost (smoothing), tier 3.
    none = summarise([_attempt(False, 300)])
    assert none.expected_tokens == 1200 and none.tier == 3
    # Long reasoning alone moves the tier.
    assert tier_for(TOKEN_BOUNDS[0] - 1, 1.0) == 1
    assert tier_for(TOKEN_BOUNDS[0], 1.0) == 2 and tier_for(TOKEN_BOUNDS[1], 1.0) == 3
    assert tier_for(100, 0.8) == 2


async def test_calibration_has_reference_solvers_reason_and_counts_their_tokens() -> None:
    clue = "Which is the largest moon of the sixth planet from the Sun?"
    pool = ScriptedPool("ref", solver_knowing({clue: "Titan"}, reasoning="x" * 400))
    result = await calibrate_clue(
        [Solver(pool, "ref")], domain="Astronomy", text=clue, answer="Titan", tags=TAGS, samples=2
    )
    assert pool.calls == 2 and result.success_rate == 1.0 and result.models == ("ref",)
    per_attempt = result.mean_tokens
    assert per_attempt > 100  # the reasoning was counted
    assert result.expected_tokens == -(-per_attempt // (2.5 / 3))


# -- jobs (SQL, both databases) -----------------------------------------------------------------


def _facts() -> list[Fact]:
    return [
        fact("Helsinki"),
        fact("Neon", "Chemistry"),
        fact("Titan", "Astronomy"),
        fact("Oslo"),
        fact("Paris"),
        fact("Madrid"),
        fact("Rome"),
    ]


HELSINKI = "Which city is the capital of the country whose internet domain is .fi?"
NEON = "Which noble gas glows red-orange in advertising signs?"
MADRID_1 = "Which city is the capital of the country whose calling code is +34?"
MADRID_2 = "Name the capital of the Iberian kingdom whose internet domain is .es?"


def _script() -> dict[str, list[str]]:
    return {
        "Helsinki": [reply("Helsinki", HELSINKI)],
        "Neon": ["Sure! Neon is a noble gas.", f"```json\n{reply('Neon', NEON)}\n```"],
        "Titan": [reply("Titan", "Titan is the largest moon of which planet, in fact?")],
        "Oslo": [reply("Oslo", "What is the capital city of Norway?")],
        "Paris": [reply("Paris", "Which shit-hot city is the capital of France?")],
        "Madrid": [reply("Madrid", MADRID_1), reply("Madrid", MADRID_2)],
        "Rome": [reply("Rome", "Which city " + "truly " * 50 + "was founded by Romulus?")],
        "Q": [reply("Violin", "Which string instrument is the smallest of its family?")],
    }


async def test_a_generation_job_accepts_rejects_with_reasons_and_accounts_tokens(
    engine: AsyncEngine,
) -> None:
    bank = ClueBank(engine)
    await bank.add_clues(
        [ClueDraft("Geography", "What is the capital city of Norway?", "Oslo", 1, "builtin:x")]
    )
    gen_pool = ScriptedPool("gen-model", generator(_script()))
    solver_pool = ScriptedPool("solver-model", solver_knowing({HELSINKI: "Helsinki", NEON: "neon"}))
    targets = [*grounded_targets(10, facts=_facts()), Target("Music", "q", 1, relation="free")]
    starts: list[tuple[int, int]] = []
    outcomes: list[Any] = []
    report = await run_generate_job(
        engine,
        gen_pool,
        [Solver(solver_pool, "solver-model")],
        targets,
        params={"test": 1},
        settings=GenerateSettings(attempts=2, concurrency=3),
        on_start=lambda total, done: starts.append((total, done)),
        on_item=outcomes.append,
    )
    assert starts == [(8, 0)] and len(outcomes) == 8
    assert (report.accepted, report.rejected) == (2, 6)
    assert report.reasons == {
        LEAKED: 1,
        DUPLICATE: 1,
        UNSAFE: 1,
        UNSOLVED: 1,
        TOO_LONG: 1,
        WRONG_INITIAL: 1,
    }
    assert report.gen_usage == gen_pool.usage and report.solve_usage == solver_pool.usage
    assert set(report.models) == {"gen-model", "solver-model"}

    async with engine.connect() as conn:
        clues = {row.answer: row for row in (await conn.execute(select(_clues))).all()}
        items = (await conn.execute(select(_items).order_by(_items.c.position))).all()
        job = (await conn.execute(select(_jobs))).one()
    assert job.status == "done" and job.kind == "generate"
    assert clues["Helsinki"].status == "verified" and clues["Helsinki"].source == "llm:gen-model"
    assert clues["Neon"].status == "verified"
    # A well-formed clue the solver could not answer is kept, rejected, with the reason.
    assert clues["Madrid"].status == "rejected" and clues["Madrid"].reject_reason == UNSOLVED
    assert "Titan" not in clues and "Paris" not in clues
    by_answer = {json.loads(i.target)["answer"] or "q": i for i in items}
    neon = by_answer["Neon"]
    assert (neon.status, neon.attempts, neon.clue_id) == ("accepted", 2, clues["Neon"].id)
    assert json.loads(neon.detail)["rejections"] == [
        {"reason": MALFORMED, "text": "Sure! Neon is a noble gas."}
    ]
    assert neon.gen_model == "gen-model" and neon.solver_models == "solver-model"
    assert by_answer["Madrid"].attempts == 2 and by_answer["Madrid"].solve_completion_tokens > 0
    assert all(i.reason for i in items if i.status == "rejected")
    # Every token is charged to exactly one item.
    gen = sum(i.gen_prompt_tokens + i.gen_completion_tokens for i in items)
    solve = sum(i.solve_prompt_tokens + i.solve_completion_tokens for i in items)
    assert gen == gen_pool.usage.total and solve == solver_pool.usage.total

    costs = await factory_costs(engine)
    assert costs.accepted == 2 and costs.attempts == sum(i.attempts for i in items)
    assert costs.tokens_per_accepted == (gen + solve) / 2
    assert costs.generator_models == ("gen-model",) and costs.solver_models == ("solver-model",)
    assert costs.reasons[LEAKED] == 1
    assert await llm_answers(engine) == {"helsinki", "neon"}


async def test_generation_without_verification_stores_unverified_clues(
    engine: AsyncEngine,
) -> None:
    pool = ScriptedPool("gen", generator(_script()))
    report = await run_generate_job(
        engine,
        pool,
        [],
        grounded_targets(1, facts=[fact("Helsinki")]),
        params={},
        settings=GenerateSettings(verify=False),
    )
    assert report.accepted == 1
    async with engine.connect() as conn:
        assert (await conn.execute(select(_clues.c.status))).scalar_one() == "unverified"
    with pytest.raises(ValueError, match="solver"):
        await run_generate_job(engine, pool, [], [], params={"x": 1})


WORDS = ["Amber", "Basil", "Cedar", "Delta", "Ember", "Fable", "Grove", "Harbor", "Ivory"]
WORDS += ["Jasper", "Kestrel", "Lemon", "Maple", "Nutmeg"]


def _word_clue(word: str) -> str:
    return f"Which entry number {WORDS.index(word) + 1} does the factory test list hold?"


class GatedPool(ScriptedPool):
    """Answers ``allowed`` calls, then hangs like a stuck backend until cancelled."""

    def __init__(self, allowed: int | None) -> None:
        super().__init__(
            "gen",
            lambda m: reply(target_fields(m)["Answer"], _word_clue(target_fields(m)["Answer"])),
        )
        self.allowed = allowed

    async def chat(self, messages: Sequence[dict[str, str]], **kwargs: Any) -> Completion:
        if self.allowed is not None:
            if self.allowed <= 0:
                await asyncio.Event().wait()
            self.allowed -= 1
        await asyncio.sleep(0)  # let other workers interleave, as real calls do
        return await super().chat(messages, **kwargs)


async def test_a_killed_job_resumes_without_losing_or_duplicating_clues(
    engine: AsyncEngine,
) -> None:
    facts = [fact(word) for word in WORDS]
    solver = Solver(ScriptedPool("solver", solver_knowing({_word_clue(w): w for w in WORDS})), "s")
    settings = GenerateSettings(concurrency=3)
    params = {"resume": True}
    finished: list[Any] = []
    first = asyncio.create_task(
        run_generate_job(
            engine,
            GatedPool(allowed=6),
            [solver],
            grounded_targets(len(WORDS), facts=facts),
            params=params,
            settings=settings,
            on_item=finished.append,
        )
    )
    for _ in range(500):
        if len(finished) >= 6:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the remaining workers are now stuck in the "backend"
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first

    async with engine.connect() as conn:
        before = dict((await conn.execute(select(_clues.c.text_key, _clues.c.id))).all())
        statuses = (await conn.execute(select(_items.c.status))).scalars().all()
    assert len(before) == 6 == statuses.count("accepted")
    assert statuses.count("pending") == len(WORDS) - 6

    starts: list[tuple[int, int]] = []
    second = await run_generate_job(
        engine,
        GatedPool(allowed=None),
        [solver],
        lambda _engine: pytest.fail("a resumed job must not rebuild its targets"),  # type: ignore[arg-type,return-value]
        params=params,
        settings=settings,
        on_start=lambda total, done: starts.append((total, done)),
    )
    assert starts == [(len(WORDS), 6)] and second.done_before == 6
    assert (second.accepted, second.rejected) == (len(WORDS) - 6, 0)
    async with engine.connect() as conn:
        after = dict((await conn.execute(select(_clues.c.text_key, _clues.c.id))).all())
        linked = (await conn.execute(select(_items.c.clue_id))).scalars().all()
        jobs = (await conn.execute(select(_jobs.c.status))).scalars().all()
    assert len(after) == len(WORDS) and before.items() <= after.items()
    assert sorted(linked) == sorted(after.values())  # one item per clue, none lost or doubled
    assert jobs == ["done"]
    # A finished job is not resumed: the same options start a new job.
    third = await run_generate_job(
        engine, GatedPool(None), [solver], [], params=params, settings=settings
    )
    assert third.name != second.name and third.total == 0


async def test_a_named_job_is_resumed_by_name_and_kind_is_checked(engine: AsyncEngine) -> None:
    pool = ScriptedPool("gen", generator(_script()))
    targets = grounded_targets(1, facts=[fact("Helsinki")])
    kwargs: dict[str, Any] = {"settings": GenerateSettings(verify=False), "name": "nightly"}
    first = await run_generate_job(engine, pool, [], targets, params={"a": 1}, **kwargs)
    again = await run_generate_job(engine, pool, [], targets, params={"a": 2}, **kwargs)
    assert (first.name, again.name, again.done_before, pool.calls) == ("nightly",) * 2 + (1, 1)
    with pytest.raises(ValueError, match="generate job"):
        await run_verify_job(engine, [Solver(pool, "x")], name="nightly")


async def test_verify_job_decides_unverified_clues_and_keeps_them_on_outages(
    engine: AsyncEngine,
) -> None:
    rows = [
        {"domain": "Geography", "text": HELSINKI, "answer": "Helsinki"},
        {"domain": "Chemistry", "text": NEON, "answer": "Neon"},
        {"domain": "Geography", "text": MADRID_1, "answer": "Madrid"},
    ]
    report = await import_clue_rows(engine, rows, source="llm:other")
    assert report.added == 3
    a = Solver(ScriptedPool("a", solver_knowing({HELSINKI: "Helsinki", NEON: "Neon"})), "a")
    b = Solver(ScriptedPool("b", solver_knowing({HELSINKI: "Helsinki"})), "b")
    result = await run_verify_job(engine, [a, b], source_prefix="llm:", concurrency=2)
    assert (result.accepted, result.rejected) == (1, 2)
    assert result.reasons == {AMBIGUOUS: 1, UNSOLVED: 1}
    async with engine.connect() as conn:
        status = dict((await conn.execute(select(_clues.c.answer, _clues.c.status))).all())
    assert status == {"Helsinki": "verified", "Neon": "rejected", "Madrid": "rejected"}

    class DownPool:
        async def chat(self, messages: Any, **_: Any) -> Completion:
            raise LLMUnavailable("down")

    await import_clue_rows(
        engine,
        [{"domain": "Music", "text": "Which reed instrument is pitched in A?", "answer": "Oboe"}],
        source="llm:x",
    )
    down = await run_verify_job(engine, [Solver(DownPool(), "down")])  # type: ignore[arg-type]
    assert down.reasons == {LLM_ERROR: 1}
    async with engine.connect() as conn:
        oboe = (
            await conn.execute(select(_clues.c.status).where(_clues.c.answer == "Oboe"))
        ).scalar()
    assert oboe == "unverified"


async def test_calibration_job_sets_tier_and_expected_tokens_once(engine: AsyncEngine) -> None:
    rows = [
        {"domain": "Geography", "text": HELSINKI, "answer": "Helsinki", "tier": 3},
        {"domain": "Chemistry", "text": NEON, "answer": "Neon", "tier": 1},
    ]
    await import_clue_rows(engine, rows, source="llm:gen", default_status="verified")
    a = Solver(ScriptedPool("ref-a", solver_knowing({HELSINKI: "Helsinki", NEON: "Neon"})), "a")
    b = Solver(ScriptedPool("ref-b", solver_knowing({HELSINKI: "Helsinki"})), "b")
    report = await run_calibrate_job(engine, [a, b])
    assert report.accepted == 2 and set(report.models) == {"ref-a", "ref-b"}
    async with engine.connect() as conn:
        got = {
            r.answer: (r.tier, r.expected_tokens)
            for r in (await conn.execute(select(_clues))).all()
        }
        details = {
            json.loads(r.target or "{}").get("x", r.clue_id): json.loads(r.detail)
            for r in (await conn.execute(select(_items))).all()
        }
    assert got["Helsinki"][0] == 1 and got["Neon"][0] == 3  # Neon: one of two solvers missed it
    assert all(d["expected_tokens"] in {v[1] for v in got.values()} for d in details.values())
    assert (await run_calibrate_job(engine, [a, b])).total == 0  # already calibrated
    assert (await run_calibrate_job(engine, [a, b], recalibrate=True)).total == 2
    tiers = {t.tier: t for t in await tier_costs(engine)}
    assert tiers[1].calibrated == 1 and tiers[3].calibrated == 1
    costs = await factory_costs(engine)
    assert costs.reference_models == ("ref-a", "ref-b") and costs.calibrate_usage.total > 0


# -- import / export ----------------------------------------------------------------------------

_COMPARED = ("domain", "text", "answer", "tier", "source", "status", "expected_tokens", "retired")


async def _snapshot(engine: AsyncEngine) -> set[tuple[Any, ...]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(*(_clues.c[k] for k in _COMPARED)))).all()
    return {tuple(row) for row in rows}


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
async def test_clues_round_trip_through_jsonl_and_csv(
    engine: AsyncEngine, tmp_path: Path, suffix: str
) -> None:
    bank = ClueBank(engine)
    drafts = [
        ClueDraft("Geography", HELSINKI, "Helsinki", 2, "llm:gen"),
        ClueDraft(
            "Chemistry", 'A "quoted", comma-rich clue about a noble gas, really?', "Neon", 1, "x"
        ),
        ClueDraft("Astronomy", "Titan is the largest moon of which planet?", "Titan", 3, "y"),
    ]
    await bank.add_clues(drafts)
    await bank.add_clues(
        [ClueDraft("Music", "Which reed instrument tunes orchestras?", "Oboe", 2, "z")],
        status="unverified",
    )
    await bank.retire([1])
    before = await _snapshot(engine)
    path = tmp_path / f"clues.{suffix}"
    assert await export_clues(engine, path) == 4
    assert await export_clues(engine, tmp_path / f"v.{suffix}", statuses=["verified"]) == 2
    async with engine.begin() as conn:
        await conn.execute(delete(_clues))
    report = await import_clues(engine, path)
    assert (report.added, report.rejected, report.duplicates) == (3, 1, 0)
    assert await _snapshot(engine) == before
    again = await import_clues(engine, path)
    assert again.duplicates == 4 and again.added == 0


async def test_clue_exports_carry_provenance_and_cost(engine: AsyncEngine, tmp_path: Path) -> None:
    pool = ScriptedPool("gen-model", generator(_script()))
    solver = Solver(ScriptedPool("solver-model", solver_knowing({HELSINKI: "Helsinki"})), "s")
    await run_generate_job(
        engine, pool, [solver], grounded_targets(1, facts=[fact("Helsinki")]), params={}
    )
    path = tmp_path / "clues.jsonl"
    await export_clues(engine, path)
    row = json.loads(path.read_text().splitlines()[0])
    assert row["source"] == "llm:gen-model" and row["generator"] == "gen-model"
    assert row["solvers"] == "solver-model" and row["gen_tokens"] == pool.usage.total > 0
    assert row["verify_tokens"] > 0 and row["job"].startswith("generate-")


async def _seeded_bank(engine: AsyncEngine) -> ClueBank:
    from puzzles.knowledge import builtin_clues

    bank = ClueBank(engine)
    await bank.seed(builtin_clues(), ["stone", "cargo", "planet", "mirror", "garden", "silver"])
    return bank


async def test_gate_sets_round_trip_as_published_rows_and_jsonl(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await _seeded_bank(engine)
    jsonl, csv_path = tmp_path / "gates.jsonl", tmp_path / "gates.csv"
    assert await export_gates(engine, jsonl, count=3, length=5, tier=1) == 3
    assert await export_gates(engine, csv_path, count=2, length=6, tier=2, retire=True) == 2
    header = csv_path.read_text().splitlines()[0]
    assert header == "puzzle,solution,difficulty"
    gates = read_gate_rows(csv_path)
    assert len(gates) == 2 and all(len(g.clues) == len(g.solution) for g in gates)
    assert not gates[0].answers and len(read_gate_rows(jsonl)[0].answers) == 5
    async with engine.connect() as conn:
        retired = await conn.scalar(select(func.count()).where(_clues.c.retired.is_(True)))
        answers = dict((await conn.execute(select(_clues.c.text, _clues.c.answer))).all())
    assert retired == len({text for g in gates for _, text in g.clues})

    async with engine.begin() as conn:
        await conn.execute(delete(_clues))
    from_jsonl = await import_gates(engine, jsonl)
    # Gates of one export may share a clue (a puzzle never repeats one, a set may).
    assert from_jsonl.added + from_jsonl.duplicates == 15 and from_jsonl.skipped == 0
    # Published rows give no per-clue answers: a solver recovers them; wrong initials are dropped.
    knows = dict(answers)
    knows[gates[0].clues[0][1]] = "Zzyzx"
    solver = Solver(ScriptedPool("solver", solver_knowing(knows)), "solver")
    from_csv = await import_gates(engine, csv_path, solver=solver)
    wrong = sum(text == gates[0].clues[0][1] for g in gates for _, text in g.clues)
    assert from_csv.added + from_csv.duplicates == 12 - wrong and from_csv.skipped == 0
    assert sum(from_csv.dropped.values()) == wrong and from_csv.gates == 2
    # Without a solver no row can be answered: each is skipped, with the reason.
    without_solver = await import_gates(engine, csv_path)
    assert without_solver.skipped == 2 and without_solver.added == 0
    assert without_solver.skip_reasons == {NO_SOLVER: 2}
    async with engine.connect() as conn:
        sources = set((await conn.execute(select(_clues.c.source))).scalars())
    assert sources == {"import:gates.jsonl", "import:gates.csv+solver"}


def test_puzzle_text_parsing_rejects_multi_gate_rows() -> None:
    text = "Answer every clue.\n\nHidden word 1 (2 letters):\n1. [Math] What is one plus one?\n2. [Art] x"
    assert parse_puzzle_text(text) == [("Math", "What is one plus one?"), ("Art", "x")]
    with pytest.raises(ValueError):
        parse_puzzle_text(text + "\n\nHidden word 2 (1 letters):\n1. [A] b")


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_import_export_and_stats_show_the_asymmetry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gate.cli import app

    url = f"sqlite+aiosqlite:///{tmp_path / 'bank.db'}"
    source = tmp_path / "in.csv"
    source.write_text(f"domain,text,answer,tier\nGeography,{HELSINKI},Helsinki,2\n")
    runner = CliRunner()
    imported = runner.invoke(app, ["puzzles", "import", str(source), "--database-url", url])
    assert imported.exit_code == 0 and "Imported 1 clues" in imported.output, imported.output
    out = tmp_path / "out.jsonl"
    exported = runner.invoke(app, ["puzzles", "export", str(out), "--database-url", url])
    assert exported.exit_code == 0 and json.loads(out.read_text())["status"] == "unverified"
    stats = runner.invoke(app, ["puzzles", "stats", "--database-url", url])
    assert stats.exit_code == 0 and "tokens per accepted clue" in stats.output
    assert "Expected solver tokens per served gate" in stats.output
    monkeypatch.delenv("GATE_LLM_BACKENDS", raising=False)
    missing = runner.invoke(app, ["puzzles", "generate", "--database-url", url])
    assert missing.exit_code == 2 and "no LLM backend" in missing.output


def test_tags_are_the_pools_call_tags() -> None:
    tags = call_tags("job-1")
    assert tags == CallTags(tenant="factory", job_class="batch", job_id="job-1")
    assert issubclass(LLMUnavailable, GateError)


# -- the real model ---------------------------------------------------------------------------------


@pytest.mark.model
async def test_the_pipeline_runs_end_to_end_against_the_ci_model(
    smollm2_server: str, tmp_path: Path
) -> None:
    """Pipeline properties, not model quality: every accepted clue is valid and was verified, every
    rejection has a reason, and every token is accounted for.  SQLite only: the model is the slow
    part, and the SQL paths are covered on both databases above."""
    import httpx2

    from puzzles.db import create_engine
    from puzzles.llm import Backend, LLMPool
    from puzzles.migrations import create_schema
    from puzzles.validate import validate_clue

    model = httpx2.get(f"{smollm2_server}/health", timeout=5).json()["model"]
    backend = Backend(name="ci", base_url=f"{smollm2_server}/v1", model=model, timeout=120.0)
    pool = LLMPool([backend])
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'bank.db'}")
    targets = grounded_targets(6, seed=7, tiers=[1])
    try:
        await create_schema(engine)
        report = await run_generate_job(
            engine,
            pool,
            [Solver(pool, model)],
            targets,
            params={"model-test": True},
            settings=GenerateSettings(attempts=2, concurrency=4),
        )
        assert report.accepted + report.rejected == len(targets)
        assert report.gen_usage.calls >= len(targets) and report.gen_usage.total > 0
        async with engine.connect() as conn:
            items = (await conn.execute(select(_items))).all()
            clues = {r.id: r for r in (await conn.execute(select(_clues))).all()}
        for item in items:
            assert item.status in ("accepted", "rejected")
            assert item.gen_prompt_tokens > 0 or item.reason == LLM_ERROR
            if item.status == "rejected":
                assert item.reason
                continue
            clue = clues[item.clue_id]
            draft = ClueDraft(clue.domain, clue.text, clue.answer, clue.tier, clue.source)
            assert validate_clue(draft) is None and clue.status == "verified"
            assert clue.source == f"llm:{model}" and item.solve_completion_tokens > 0
            verdict = await verify_clue(
                [Solver(pool, model)],
                domain=clue.domain,
                text=clue.text,
                answer=clue.answer,
                tags=TAGS,
            )
            assert verdict.ok  # temperature 0: the solver answers the same way again
        costs = await factory_costs(engine)
        spent = sum(
            i.gen_prompt_tokens
            + i.gen_completion_tokens
            + i.solve_prompt_tokens
            + i.solve_completion_tokens
            for i in items
        )
        assert costs.gen_usage.total + costs.verify_usage.total == spent
    finally:
        await pool.aclose()
        await engine.dispose()
