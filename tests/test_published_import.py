"""Published gate sets import as published (issue 13, item 6).

``tests/data/published_gates_sample.json`` is a small set written for these tests in the published
format (pandas column JSON: Problems, Solutions, Difficulty) with the layouts such sets use, a
13-letter solution and one row for each reason to skip.  Answers come from a solver model behind
an OpenAI-compatible fake server on ``httpx2.MockTransport``, through the real ``LLMPool``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gate.errors import BankError
from gate.puzzle import PuzzleSpec, puzzle_to_dict
from gate.store import MemoryStore
from puzzles.bank import ClueBank
from puzzles.composer import BankComposer
from puzzles.factory.gate_files import NO_SOLVER, import_gates
from puzzles.factory.gates import PANDAS_JSON, gate_file_format, parse_puzzle_text, tier_of
from puzzles.factory.verify import Solver
from puzzles.llm import Backend, LLMPool
from puzzles.models import Clue, PublishedGate
from puzzles.published import load_whole_gates
from puzzles.validate import STATES_INITIAL

SAMPLE = Path(__file__).parent / "data" / "published_gates_sample.json"
_clues = Clue.__table__

# What the fake solver model answers, by clue text.  "The Italian capital on the Tiber" gets a
# wrong-initial answer on purpose (the published row's solution says R).
ANSWERS = {
    "The Austrian composer of The Magic Flute": "Mozart",
    "The country whose capital is Muscat": "Oman",
    "The gas that makes up about a fifth of the air we breathe": "Oxygen",
    "The river that flows through Cairo": "Nile",
    "The capital city of Japan": "Tokyo",
    "The country whose capital is Rome": "Italy",
    "The flightless bird of Mauritius that died out in the 17th century": "Dodo",
    "The planet we live on": "Earth",
    "The largest member of the cat family": "Tiger",
    "The lightest chemical element": "Hydrogen",
    "The planet tipped on its side, seventh from the Sun": "Uranus",
    "The country whose capital is Oslo": "Norway",
    "The flightless bird of Mauritius, extinct since the 1600s": "Dodo",
    "The planet third from the Sun": "Earth",
    "The country whose capital is Moscow": "Russia",
    "The star at the centre of our solar system": "The Sun",
    "The Greek letter between sigma and upsilon": "Tau",
    "The country whose capital is Muscat, on the Arabian Sea": "Oman",
    "The city of the Colosseum": "Rome",
    "The red planet": "Mars",
    "The country whose capital is Madrid": "Spain",
    "A river in Africa beginning with N": "Nile",
    "The planet we call home": "Earth",
    "The country whose capital is Stockholm": "Sweden",
    "The country whose capital is Bangkok": "Thailand",
    "The body that our planet orbits once a year": "Sun",
    "The country whose capital is Ankara": "Turkey",
    "The continent of Kenya and Egypt": "Africa",
    "The country whose capital is Bucharest": "Romania",
    "The capital of France": "Paris",
    "The country whose capital is Cairo": "Egypt",
    "The country whose capital is Canberra": "Australia",
    "The Italian capital on the Tiber": "Vatican City",
    "The country whose capital is Dublin": "Ireland",
    "The colour of rust, the oxide of iron": "Red",
    "The sultanate on the Arabian Sea ruled from Muscat": "Oman",
    "The Scandinavian kingdom ruled from Oslo": "Norway",
}


def _sse(text: str) -> bytes:
    events = [
        {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55}},
    ]
    common = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    lines = [json.dumps({**common, **event}) for event in events] + ["[DONE]"]
    return "".join(f"data: {line}\n\n" for line in lines).encode()


class SolverServer:
    """An OpenAI-compatible chat endpoint that answers solve prompts from ``ANSWERS``."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/models"):
            return httpx2.Response(200, json={"object": "list", "data": []})
        body = json.loads(request.content)
        clue = re.sub(r"^\[[^\]]*\]\s*", "", body["messages"][-1]["content"])
        self.asked.append(clue)
        reply = json.dumps({"answer": ANSWERS.get(clue, "Unknown")})
        headers = {"content-type": "text/event-stream"}
        return httpx2.Response(200, headers=headers, content=_sse(reply))


@pytest.fixture
async def solver() -> AsyncIterator[Solver]:
    server = SolverServer()
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(server.handle))
    backend = Backend(name="mock", base_url="http://mock.test/v1", model="mock-solver")
    pool = LLMPool([backend], http_client=client)
    yield Solver(pool, "mock-solver")
    await pool.aclose()
    await client.aclose()


# -- reading -------------------------------------------------------------------------------------


def test_published_layouts_parse_with_or_without_domains() -> None:
    text = (
        "Answer every clue.\n\nHidden word 1 (3 letters):\n"
        "1) The capital city of Japan\n**2.** [Geography] The capital of France**\n"
        "Clue 3: [Art] The painter of Guernica\nQ4. [Music] The composer of Tosca"
    )
    assert parse_puzzle_text(text) == [
        ("General", "The capital city of Japan"),
        ("Geography", "The capital of France"),
        ("Art", "The painter of Guernica"),
        ("Music", "The composer of Tosca"),
    ]
    with pytest.raises(ValueError, match="numbered"):
        parse_puzzle_text("1. [A] one clue here\n3. [B] a skipped number")
    with pytest.raises(ValueError, match="more than one hidden word"):
        parse_puzzle_text("1. [A] one clue here\n2. [B] two\n1. [C] again")


@pytest.mark.parametrize(
    ("label", "tier"),
    [("easy", 1), ("Medium", 2), (" HARD ", 3), ("1", 1), ("3.0", 3), (2, 2), (None, 2)],
)
def test_difficulty_labels_map_to_tiers(label: Any, tier: int) -> None:
    assert tier_of(label) == tier


@pytest.mark.parametrize("label", ["legendary", "4", "0", "", "1.5", True])
def test_unknown_difficulty_labels_have_no_tier(label: Any) -> None:
    assert tier_of(label) is None or label == ""  # "" is a missing label: the default tier


def test_the_json_shape_decides_the_format(tmp_path: Path) -> None:
    assert gate_file_format(SAMPLE) == PANDAS_JSON
    records = tmp_path / "records.json"
    records.write_text(json.dumps([{"puzzle": "1. [A] text", "solution": "a"}]))
    assert gate_file_format(records) == PANDAS_JSON
    lines = tmp_path / "lines.json"
    lines.write_text('{"puzzle": "1. [A] text", "solution": "a"}\n{"puzzle": "x"}\n')
    assert gate_file_format(lines) == "jsonl"
    assert gate_file_format(lines, "pandas-json") == PANDAS_JSON


# -- importing -----------------------------------------------------------------------------------


async def test_without_a_solver_every_unanswered_row_is_counted_with_its_reason(
    engine: AsyncEngine,
) -> None:
    report = await import_gates(engine, SAMPLE)
    assert (report.rows, report.gates, report.added) == (9, 0, 0)
    assert report.skipped == 9
    assert report.skip_reasons == {
        NO_SOLVER: 7,
        "unknown difficulty label 'legendary'": 1,
        "clue count differs from the solution length": 1,
    }


async def test_published_rows_import_their_clues_with_every_skip_counted(
    engine: AsyncEngine, solver: Solver
) -> None:
    report = await import_gates(engine, SAMPLE, solver=solver)
    assert (report.rows, report.gates, report.skipped) == (9, 7, 2)
    assert report.dropped == {"a clue's answer does not start with the solution's letter": 1}
    assert report.reasons == {STATES_INITIAL: 1}  # kept as rejected, with the reason
    assert report.added + report.rejected + report.duplicates == 4 + 4 + 13 + 4 + 4 + 3 + 4
    assert len(report.notes) == 1 and "word list" in next(iter(report.notes))
    async with engine.connect() as conn:
        sources = set((await conn.execute(select(_clues.c.source))).scalars())
    assert sources == {f"import:{SAMPLE.name}+mock-solver"}


async def test_whole_gates_are_stored_whole_and_reimport_adds_nothing(
    engine: AsyncEngine, solver: Solver
) -> None:
    report = await import_gates(engine, SAMPLE, solver=solver, whole=True)
    assert (report.rows, report.gates, report.skipped) == (9, 4, 5)
    assert report.skip_reasons == {
        "unknown difficulty label 'legendary'": 1,
        "clue count differs from the solution length": 1,
        f"clue rejected: {STATES_INITIAL}": 1,
        "a clue's answer does not start with the solution's letter": 1,
        "the solution appears in a clue": 1,
    }
    gates = await load_whole_gates(engine)
    assert sorted(g.solution for g in gates) == ["moon", "star", "thunderstorms", "tide"]
    assert "thunderstorms" not in repr(gates)  # solutions stay out of logs
    again = await import_gates(engine, SAMPLE, solver=solver, whole=True)
    assert again.gates == 0 and again.skip_reasons["gate already in the bank"] == 4
    async with engine.connect() as conn:
        stored = (await conn.execute(select(PublishedGate.__table__.c.id))).all()
    assert len(stored) == 4


# -- serving -------------------------------------------------------------------------------------


async def test_the_composer_serves_a_whole_gate_as_published_only_when_asked(
    engine: AsyncEngine, solver: Solver
) -> None:
    await import_gates(engine, SAMPLE, solver=solver, whole=True, default_status="verified")
    index = await ClueBank(engine).load_index()
    whole = await load_whole_gates(engine)
    store = MemoryStore()
    composer = BankComposer(index, store, serve_limit=2, whole_gates=whole)

    long = await composer.compose(PuzzleSpec(1, 12, 3))
    assert long.words == ("thunderstorms",) and long.public.tier == 3
    published = json.loads(SAMPLE.read_text())["Problems"]["2"].splitlines()
    texts = [clue.text for clue in long.public.gates[0].clues]
    assert texts == [line.split("] ", 1)[1] for line in published]

    first = await composer.compose(PuzzleSpec(1, 4, 1))
    assert first.words == ("moon",)
    wire = json.dumps(puzzle_to_dict(first.public)).casefold()
    answers = ("moon", "mozart", "oman", "oxygen", "nile")
    assert not any(re.search(rf"\b{answer}\b", wire) for answer in answers)
    moon_ids = [clue.clue_id for clue in first.public.gates[0].clues]
    assert (await composer.compose(PuzzleSpec(1, 4, 1))).words == ("moon",)
    counts = composer.served_counts()
    assert all(counts[cid] == 2 for cid in moon_ids)  # counted as usual
    # The serve limit (2) is reached: the gate is not served whole again.
    try:
        third = await composer.compose(PuzzleSpec(1, 4, 1))
    except BankError:
        pass
    else:
        assert third.words != ("moon",)

    plain = BankComposer(index, MemoryStore())  # no opt-in: gates are only composed
    try:
        composed = await plain.compose(PuzzleSpec(1, 12, 3))
    except BankError:  # tier 3 spells no word of the list: nothing to compose
        pass
    else:
        assert composed.words != ("thunderstorms",)
    await store.close()


# -- CLI -----------------------------------------------------------------------------------------


def test_cli_prints_each_skip_reason(tmp_path: Path) -> None:
    from gate.cli import app

    url = f"sqlite+aiosqlite:///{tmp_path / 'bank.db'}"
    runner = CliRunner()
    result = runner.invoke(
        app, ["puzzles", "import", str(SAMPLE), "--kind", "gates", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    assert "Read 9 gates: 0 imported, 9 skipped." in result.output
    assert "Imported 0 clues, 0 rejected, 0 duplicates, 0 dropped." in result.output
    assert f"skipped: {NO_SOLVER} (7)" in result.output
    assert "skipped: unknown difficulty label 'legendary' (1)" in result.output
    refused = runner.invoke(app, ["puzzles", "import", str(SAMPLE), "--whole"])
    assert refused.exit_code == 2 and "--kind gates" in refused.output


async def test_gate_whole_gates_turns_whole_serving_on_in_the_runtime(
    solver: Solver, tmp_path: Path
) -> None:
    from gate.config import GateConfig
    from gate.rules import RuleSet
    from puzzles.db import create_engine
    from puzzles.migrations import prepare_schema
    from serving.runtime import open_runtime

    url = f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}"
    engine = create_engine(url)
    await prepare_schema(engine, auto_upgrade=True)
    await import_gates(engine, SAMPLE, solver=solver, whole=True, default_status="verified")
    await engine.dispose()
    for setting, served in (("true", True), ("false", False)):
        config = GateConfig.from_env(
            {"GATE_WHOLE_GATES": setting, "GATE_SERVE_LIMIT": "5"},
            state_dir=tmp_path,
            database_url=url,
        )
        runtime = await open_runtime(config, RuleSet([]), seed=False)
        try:
            composed = await runtime.composer.compose(PuzzleSpec(1, 12, 3))
            assert (composed.words == ("thunderstorms",)) is served
        except BankError:
            assert not served
        finally:
            await runtime.close()
