"""Prices on the tools of an MCPServer, driven by the SDK's real client.

In memory on both protocol generations, and over real streamable HTTP (uvicorn on loopback) and
stdio (a subprocess).  The test-only solver reads answers from the bank.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.routing import Mount

from gate.config import GateConfig
from gate.gatekeeper import Gatekeeper
from gate.ledger import ledger_key
from gate.puzzle import puzzle_from_dict
from gate.rules import Rule, RuleSet
from gate.store import RedisStore
from mcp_server import PASS_META_KEY, ToolGate, tool_rules
from mcp_server.toolgate import BUDGET_META_KEY, ERROR_META_KEY, PRICE_META_KEY, PUZZLE_META_KEY
from middleware import GateMiddleware
from serving.runtime import Runtime, open_runtime
from tests.bank_solver import BankSolver
from tests.support import delete_keys, key_prefix, on_loopback

MODES = ["legacy", "2026-07-28"]


def gate_error(result: types.CallToolResult) -> dict[str, Any]:
    """The gate's error payload: always in ``_meta``; in ``structuredContent`` only for tools
    without an output schema (``str``-returning MCPServer tools have one)."""
    payload: dict[str, Any] = (result.meta or {})[ERROR_META_KEY]
    return payload


@pytest.fixture
async def runtime(seeded_state: Path, redis_url: str) -> AsyncIterator[Runtime]:
    store = RedisStore.from_url(redis_url, prefix=key_prefix("mcp"))
    opened = await open_runtime(
        GateConfig.from_env({}, state_dir=seeded_state), RuleSet([]), store=store
    )
    try:
        yield opened
    finally:
        await opened.close()
        await delete_keys(redis_url, store.prefix)


@pytest.fixture
async def solver(runtime: Runtime) -> BankSolver:
    return await BankSolver.load(runtime.engine)


def search_server(gate: ToolGate) -> MCPServer:
    server = MCPServer("search-service")
    gate.install(server)

    @server.tool()
    def search(query: str) -> str:
        """Search the catalogue."""
        return f"results for {query}"

    @server.tool()
    def ping() -> str:
        """A free tool."""
        return "pong"

    return server


class Agent:
    """Answers the gate's questions with the test solver; can be told to get the first one wrong."""

    def __init__(self, solver: BankSolver, *, wrong_first: bool = False) -> None:
        self.solver = solver
        self.wrong_first = wrong_first
        self.asked = 0

    async def __call__(self, context: Any, params: Any) -> types.ElicitResult:
        self.asked += 1
        puzzle = puzzle_from_dict(params.meta[PUZZLE_META_KEY]["puzzle"])
        words = self.solver.solve(puzzle)
        if self.wrong_first and self.asked == 1:
            words = ["x" * len(word) for word in words]
        return types.ElicitResult(
            action="accept", content={f"hidden_word_{n}": w for n, w in enumerate(words, start=1)}
        )


@pytest.mark.parametrize("mode", MODES)
async def test_tool_descriptions_carry_the_price_and_the_gate_tools_are_listed(
    runtime: Runtime, mode: str
) -> None:
    gate = ToolGate(tool_rules({"search": 1_500}, budget=3), gatekeeper=runtime.gatekeeper)
    async with Client(search_server(gate), mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"search", "ping", "gate_challenge", "gate_solve"}
    assert "1500 solver tokens" in (tools["search"].description or "")
    assert tools["search"].meta and tools["search"].meta[PRICE_META_KEY]["budget"] == 3
    assert "solver tokens" not in (tools["ping"].description or "")


@pytest.mark.parametrize("mode", MODES)
async def test_an_agent_pays_in_band_spends_its_budget_and_pays_again(
    runtime: Runtime, solver: BankSolver, mode: str
) -> None:
    gate = ToolGate(tool_rules({"search": 1_500}, budget=2), gatekeeper=runtime.gatekeeper)
    agent = Agent(solver, wrong_first=True)
    async with Client(search_server(gate), mode=mode, elicitation_callback=agent) as client:
        with anyio.fail_after(20):
            assert (await client.call_tool("ping", {})).content[0].text == "pong"
            first = await client.call_tool("search", {"query": "owls"})
            assert not first.is_error and first.content[0].text == "results for owls"
            assert agent.asked == 2  # a wrong answer, then the right one
            token = first.meta[PASS_META_KEY]
            assert first.meta[BUDGET_META_KEY] == 1
            second = await client.call_tool(
                "search", {"query": "bats"}, meta={PASS_META_KEY: token}
            )
            assert second.meta[BUDGET_META_KEY] == 0
            third = await client.call_tool(
                "search", {"query": "moths"}, meta={PASS_META_KEY: token}
            )
            assert not third.is_error and agent.asked == 3  # budget spent: a new puzzle was asked
    ledger = await runtime.store.hgetall(ledger_key(runtime.gatekeeper.identity(_stdio_visitor())))
    assert ledger["solved"] == 2 and ledger["failed"] == 1 and ledger["served"] == 3


def _stdio_visitor():  # type: ignore[no-untyped-def]
    from gate.gatekeeper import Visitor
    from mcp_server.toolgate import STDIO_IDENTITY

    return Visitor(path="", peer=None, identity=STDIO_IDENTITY)


@pytest.mark.parametrize("mode", MODES)
async def test_clients_without_elicitation_are_told_to_use_the_gate_tools(
    runtime: Runtime, solver: BankSolver, mode: str
) -> None:
    gate = ToolGate(tool_rules({"search": 1_500}), gatekeeper=runtime.gatekeeper)
    async with Client(search_server(gate), mode=mode) as client:
        refused = await client.call_tool("search", {"query": "owls"})
        assert refused.is_error and gate_error(refused)["error"] == "payment_required"
        assert "gate_solve" in refused.content[0].text and PASS_META_KEY in refused.content[0].text
        challenge = gate_error(refused)["challenge"]
        assert refused.structured_content is None  # search declares an output schema
        words = solver.solve(puzzle_from_dict(challenge["puzzle"]))
        wrong = await client.call_tool(
            "gate_solve", {"challenge_id": challenge["challenge_id"], "answers": ["no"]}
        )
        assert wrong.is_error and wrong.structured_content["attempts_left"] == 4
        solved = await client.call_tool(
            "gate_solve", {"challenge_id": challenge["challenge_id"], "answers": words}
        )
        token = solved.structured_content["pass"]
        paid = await client.call_tool("search", {"query": "owls"}, meta={PASS_META_KEY: token})
        assert not paid.is_error and paid.content[0].text == "results for owls"
        fresh = await client.call_tool("gate_challenge", {"tool": "search"})
        assert fresh.structured_content["challenge_id"] != challenge["challenge_id"]
        free = await client.call_tool("gate_challenge", {"tool": "ping"})
        assert free.is_error and free.structured_content["error"] == "not_priced"


async def _first_round(client: Client, query: str) -> types.InputRequiredResult:
    first = await client.session.call_tool("search", {"query": query}, allow_input_required=True)
    assert isinstance(first, types.InputRequiredResult)
    return first


def _answers(solver: BankSolver, ask: types.InputRequiredResult) -> dict[str, types.ElicitResult]:
    request = ask.input_requests["reasoning-gate/answer"]
    words = solver.solve(puzzle_from_dict(request.params.meta[PUZZLE_META_KEY]["puzzle"]))
    content = {f"hidden_word_{n}": w for n, w in enumerate(words, start=1)}
    return {"reasoning-gate/answer": types.ElicitResult(action="accept", content=content)}


async def test_request_state_is_single_use_and_bound_to_the_call(
    runtime: Runtime, solver: BankSolver
) -> None:
    gate = ToolGate(tool_rules({"search": 1_500}), gatekeeper=runtime.gatekeeper)

    async def unused(context: Any, params: Any) -> types.ElicitResult:
        raise AssertionError("rounds are driven by hand here")

    async with Client(
        search_server(gate), mode="2026-07-28", elicitation_callback=unused
    ) as client:
        session = client.session
        ask = await _first_round(client, "owls")
        answers = _answers(solver, ask)
        # Bound to the call: the same state with other arguments is refused (by the SDK's seal).
        with pytest.raises(MCPError):
            await session.call_tool(
                "search",
                {"query": "bats"},
                input_responses=answers,
                request_state=ask.request_state,
                allow_input_required=True,
            )
        ask = await _first_round(client, "owls")
        answers = _answers(solver, ask)
        tampered = (
            ask.request_state[:-6]
            + ("A" if ask.request_state[-6] != "A" else "B")
            + ask.request_state[-5:]
        )
        with pytest.raises(MCPError):
            await session.call_tool(
                "search",
                {"query": "owls"},
                input_responses=answers,
                request_state=tampered,
                allow_input_required=True,
            )
        done = await session.call_tool(
            "search",
            {"query": "owls"},
            input_responses=answers,
            request_state=ask.request_state,
            allow_input_required=True,
        )
        assert isinstance(done, types.CallToolResult) and not done.is_error
        replay = await session.call_tool(
            "search",
            {"query": "owls"},
            input_responses=answers,
            request_state=ask.request_state,
            allow_input_required=True,
        )
        assert isinstance(replay, types.CallToolResult) and replay.is_error
        assert gate_error(replay)["error"] == "invalid_state"


async def test_the_gates_own_seal_refuses_foreign_and_replayed_state(runtime: Runtime) -> None:
    from gate.errors import StateInvalid
    from gate.keys import KeyRing
    from gate.sealing import Sealer
    from mcp_server.toolgate.caller import Caller
    from mcp_server.toolgate.request_state import RequestStates

    states = RequestStates(runtime.gatekeeper)
    caller = Caller(identity="mcp:stdio", peer=None, forwarded_for=())
    params = {"name": "search", "arguments": {"query": "owls"}}
    sealed = await states.seal(params, caller, {"challenge": "c" * 22})
    foreign = Sealer(KeyRing.generate(), "mcp-request-state").seal({"challenge": "c" * 22}, 60)
    other_client = Caller(identity="mcp:other", peer=None, forwarded_for=())
    for state, who, call in (
        (foreign, caller, params),
        ("garbage", caller, params),
        (sealed, other_client, params),
        (sealed, caller, {"name": "search", "arguments": {"query": "bats"}}),
        (sealed, caller, {"name": "other", "arguments": {"query": "owls"}}),
    ):
        with pytest.raises(StateInvalid):
            await states.open(state, call["name"], call, who)
    assert (await states.open(sealed, "search", params, caller))["challenge"] == "c" * 22
    with pytest.raises(StateInvalid, match="already used"):
        await states.open(sealed, "search", params, caller)


async def test_a_tool_can_be_priced_with_a_decorator(runtime: Runtime) -> None:
    gate = ToolGate(gatekeeper=runtime.gatekeeper)
    server = MCPServer("decorated")
    gate.install(server)

    @server.tool()
    @gate.price(2_000, budget=5)
    def lookup(key: str) -> str:
        return key

    async with Client(server, mode="2026-07-28") as client:
        refused = await client.call_tool("lookup", {"key": "k"})
    assert refused.is_error and gate_error(refused)["challenge"]["price"] >= 2_000


def _shared_site(gatekeeper: Gatekeeper, gate: ToolGate) -> Starlette:
    from contextlib import asynccontextmanager as lifespan_manager

    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    server = search_server(gate)
    mcp_app = server.streamable_http_app(streamable_http_path="/")

    @lifespan_manager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    api = GateMiddleware(
        Starlette(routes=[Route("/api/{rest:path}", lambda r: PlainTextResponse("data"))]),
        gatekeeper,
    )
    return Starlette(routes=[Mount("/mcp", app=mcp_app), Mount("/", app=api)], lifespan=lifespan)


@pytest.mark.parametrize("mode", MODES)
async def test_over_streamable_http_a_pass_paid_over_http_pays_for_tools(
    runtime: Runtime, solver: BankSolver, mode: str
) -> None:
    import httpx2

    shared = dict(price=1_500, budget=5, pass_ttl=600, scope="bundle:search")
    gatekeeper = runtime.gatekeeper
    gatekeeper.rules = RuleSet([Rule("/api/", **shared)])  # type: ignore[arg-type]
    gate = ToolGate({"search": Rule(**shared)}, gatekeeper=gatekeeper)  # type: ignore[arg-type]
    async with on_loopback(_shared_site(gatekeeper, gate), lifespan="auto") as base:
        async with httpx2.AsyncClient(base_url=base) as http:
            challenge = (await http.get("/api/x", headers={"Accept": "application/json"})).json()[
                "challenge"
            ]
            words = solver.solve(puzzle_from_dict(challenge["puzzle"]))
            token = (await http.post(challenge["url"], json={"answers": words})).json()["pass"]
        async with Client(f"{base}/mcp/", mode=mode) as client:
            with anyio.fail_after(20):
                paid = await client.call_tool(
                    "search", {"query": "owls"}, meta={PASS_META_KEY: token}
                )
                assert not paid.is_error and paid.meta[BUDGET_META_KEY] == 4
                unpaid = await client.call_tool("search", {"query": "owls"})
                assert unpaid.is_error and gate_error(unpaid)["error"] == "payment_required"


STDIO_SERVER = Path(__file__).with_name("mcp_gated_server.py")


@pytest.mark.parametrize("mode", MODES)
async def test_over_stdio_an_agent_pays_and_calls(
    seeded_state: Path, solver: BankSolver, mode: str
) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=[str(STDIO_SERVER)], env={"GATE_STATE_DIR": str(seeded_state)}
    )
    agent = Agent(solver)
    async with Client(params, mode=mode, elicitation_callback=agent) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("search", {"query": "owls"})
            assert not result.is_error and result.content[0].text == "results for owls"
            again = await client.call_tool(
                "search", {"query": "bats"}, meta={PASS_META_KEY: result.meta[PASS_META_KEY]}
            )
            assert not again.is_error and agent.asked == 1


async def test_a_paid_tools_own_errors_are_not_masked_by_the_gate(
    runtime: Runtime, solver: BankSolver
) -> None:
    gate = ToolGate(tool_rules({"explode": 1_500}), gatekeeper=runtime.gatekeeper)
    server = MCPServer("errors")
    gate.install(server)

    @server.tool()
    def explode() -> str:
        raise MCPError(code=-32000, message="upstream says no")

    async with Client(server, mode="2026-07-28", elicitation_callback=Agent(solver)) as client:
        with pytest.raises(MCPError, match="upstream says no"):
            await client.call_tool("explode", {})


CONFUSABLE = "\u0430"  # a Cyrillic a: among Latin letters, a spelling no hidden word has


class ConfusedAgent(Agent):
    """Answers first with a mixed-script spelling of the right word, then with the word itself."""

    def __init__(self, solver: BankSolver) -> None:
        super().__init__(solver)
        self.seen: list[tuple[str, int]] = []  # (message, attempts left) of each question

    async def __call__(self, context: Any, params: Any) -> types.ElicitResult:
        self.seen.append((params.message, params.meta[PUZZLE_META_KEY]["attempts"]))
        answer = await super().__call__(context, params)
        if self.asked == 1:
            assert answer.content is not None
            word = str(answer.content["hidden_word_1"])
            answer.content["hidden_word_1"] = word[:-1] + CONFUSABLE
        return answer


@pytest.mark.parametrize("mode", MODES)
async def test_unreadable_in_band_answers_are_asked_again_without_using_an_attempt(
    runtime: Runtime, solver: BankSolver, mode: str
) -> None:
    gate = ToolGate(tool_rules({"search": 1_500}), gatekeeper=runtime.gatekeeper)
    agent = ConfusedAgent(solver)
    async with Client(search_server(gate), mode=mode, elicitation_callback=agent) as client:
        with anyio.fail_after(20):
            result = await client.call_tool("search", {"query": "owls"})
    text = result.content[0]
    assert not result.is_error and isinstance(text, types.TextContent)
    assert text.text == "results for owls" and agent.asked == 2
    (first, attempts_before), (again, attempts_after) = agent.seen
    assert "no attempt was used" in again and "no attempt" not in first
    assert attempts_before == attempts_after == 5
    ledger = await runtime.store.hgetall(ledger_key(runtime.gatekeeper.identity(_stdio_visitor())))
    assert ledger.get("failed", 0) == 0 and ledger["solved"] == 1


async def test_gate_solve_refuses_unreadable_answers_without_using_an_attempt(
    runtime: Runtime, solver: BankSolver
) -> None:
    gate = ToolGate(tool_rules({"search": 1_500}), gatekeeper=runtime.gatekeeper)
    async with Client(search_server(gate), mode="2026-07-28") as client:
        asked = await client.call_tool("gate_challenge", {"tool": "search"})
        challenge = asked.structured_content
        assert challenge is not None
        words = solver.solve(puzzle_from_dict(challenge["puzzle"]))
        for bad in (
            words[0][:-1] + CONFUSABLE,
            words[0] + "\u200d",  # zero-width joiner
            words[0] + "\x00",
            "x" * 257,
        ):
            refused = await client.call_tool(
                "gate_solve",
                {"challenge_id": challenge["challenge_id"], "answers": [bad, *words[1:]]},
            )
            assert refused.is_error, ascii(bad)
            assert refused.structured_content == {"error": "malformed_answer"}
            said = refused.content[0]
            assert isinstance(said, types.TextContent) and "no attempt was used" in said.text
        wrong = await client.call_tool(
            "gate_solve", {"challenge_id": challenge["challenge_id"], "answers": ["no"]}
        )
        assert wrong.structured_content["attempts_left"] == 4  # the refusals above used none
        full_width = [
            "".join(chr(ord(ch) + 0xFEE0) for ch in word.upper()) for word in words
        ]  # NFKC folds these, as over HTTP
        solved = await client.call_tool(
            "gate_solve", {"challenge_id": challenge["challenge_id"], "answers": full_width}
        )
        assert not solved.is_error and solved.structured_content["pass"]
