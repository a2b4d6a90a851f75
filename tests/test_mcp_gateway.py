"""``gate mcp``: the MCP gateway against a real upstream subprocess, through the SDK's own client.

Fronts: streamable HTTP (the gateway served by uvicorn in this process) and stdio (``gate mcp
--transport stdio`` spawned by the client).  Upstreams: ``tests/mcp_upstream.py`` as a stdio command
and as an HTTP server.  Both protocol generations.  Every wait is bounded by ``anyio.fail_after``.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client, MCPError, StdioServerParameters

from gate.config import GateConfig
from gate.puzzle import puzzle_from_dict
from mcp_server.front import serve_gateway
from mcp_server.gateway import UpstreamError, UpstreamSpec, open_gateway
from mcp_server.toolgate import ERROR_META_KEY, PASS_META_KEY, PUZZLE_META_KEY, tool_rules
from tests.bank_solver import BankSolver
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM_SCRIPT = ROOT / "tests" / "mcp_upstream.py"
UPSTREAM_COMMAND = f"{shlex.quote(sys.executable)} {shlex.quote(str(UPSTREAM_SCRIPT))} stdio"
MODES = ("legacy", "2026-07-28")
LIMIT = 30  # seconds any one test may take; nothing here should come near it


async def wait_for_port(port: int) -> None:
    with anyio.fail_after(20):
        while True:
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.05)
            else:
                await stream.aclose()
                return


def start_upstream_http() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(UPSTREAM_SCRIPT), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}/mcp"


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def quiet_client_transport_logs() -> Iterator[None]:
    """The SDK's client transports log every message they send at DEBUG, answers to puzzles
    included; that is the client's own business, and it would trip the suite's leak scan, which
    hunts answers in the gate's output."""
    loggers = [
        logging.getLogger(name) for name in ("mcp.client.streamable_http", "mcp.client.stdio")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    """A long-lived HTTP upstream shared by the tests that do not kill it."""
    proc, url = start_upstream_http()
    try:
        anyio.run(wait_for_port, int(url.split(":")[2].split("/")[0]))
        yield url
    finally:
        stop(proc)


def upstream_spec(kind: str, url: str, timeout: float = 10.0) -> UpstreamSpec:
    if kind == "command":
        return UpstreamSpec(UPSTREAM_COMMAND, "command", timeout)
    return UpstreamSpec(url, "url", timeout)


def gate_config(state: Path) -> GateConfig:
    return GateConfig.from_env({}, state_dir=state)


@asynccontextmanager
async def http_gateway(
    spec: UpstreamSpec, *, rules: dict[str, Any] | None = None, config: GateConfig | None = None
) -> AsyncIterator[str]:
    """Serve the gateway on a loopback port in this process; yields its URL."""
    port = free_port()
    ready = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            lambda: serve_gateway(
                spec, port=port, rules=rules, config=config, ready=lambda _line: ready.set()
            )
        )
        with anyio.fail_after(20):
            await ready.wait()
        try:
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            tg.cancel_scope.cancel()


def stdio_gateway(kind: str, url: str, state: Path, *extra: str) -> StdioServerParameters:
    """``gate mcp --transport stdio`` for the client to spawn."""
    upstream = (
        ["--upstream-command", UPSTREAM_COMMAND] if kind == "command" else ["--upstream-url", url]
    )
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "gate.cli", "mcp", "--transport", "stdio", *upstream, *extra],
        env={**os.environ, "GATE_STATE_DIR": str(state)},
        cwd=str(ROOT),
    )


def text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


async def snapshot(client: Client) -> dict[str, Any]:
    """Everything a client can see of a server, in comparable form."""
    calls = {
        "echo": await client.call_tool("echo", {"text": "hi"}),
        "add": await client.call_tool("add", {"a": 2, "b": 3}),
        "boom": await client.call_tool("boom", {}),
        "meta": await client.call_tool("meta", {}, meta={"trace": "t-1"}),
    }
    return {
        "tools": (await client.list_tools()).tools,
        "resources": (await client.list_resources()).resources,
        "templates": (await client.list_resource_templates()).resource_templates,
        "prompts": (await client.list_prompts()).prompts,
        "read": (await client.read_resource("res://readme")).contents,
        "read_template": (await client.read_resource("res://item/42")).contents,
        "prompt": (await client.get_prompt("greet", {"name": "Ada"})).messages,
        "calls": {name: (r.content, r.structured_content, r.is_error) for name, r in calls.items()},
    }


# -- the pure proxy ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["command", "url"])
async def test_http_front_reexposes_the_upstream_unchanged(
    kind: str, mode: str, upstream_url: str
) -> None:
    with anyio.fail_after(LIMIT):
        async with Client(upstream_url, mode=mode, cache=None) as direct:
            expected = await snapshot(direct)
            version = direct.protocol_version
        async with (
            http_gateway(upstream_spec(kind, upstream_url)) as url,
            Client(url, mode=mode, cache=None) as client,
        ):
            assert client.protocol_version == version
            seen = await snapshot(client)
            # The gate's credential never reaches the upstream; the caller's own _meta does.
            relayed = await client.call_tool("meta", {}, meta={PASS_META_KEY: "rg1.x", "k": 1})
    assert seen == expected
    assert seen["calls"]["add"][1] == {"total": 5}
    assert relayed.structured_content == {"k": 1}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["command", "url"])
async def test_stdio_front_reexposes_the_upstream_unchanged(
    kind: str, mode: str, upstream_url: str, seeded_state: Path
) -> None:
    with anyio.fail_after(LIMIT):
        async with Client(upstream_url, mode=mode, cache=None) as direct:
            expected = await snapshot(direct)
        target = stdio_gateway(kind, upstream_url, seeded_state)
        async with Client(target, mode=mode, cache=None) as client:
            seen = await snapshot(client)
    assert seen == expected


async def test_upstream_errors_pass_through_as_json_rpc_errors(upstream_url: str) -> None:
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(upstream_spec("url", upstream_url)) as url,
            Client(url, cache=None) as client,
        ):
            with pytest.raises(MCPError) as caught:
                await client.read_resource("res://missing")
            unknown = await client.call_tool("no_such_tool", {})
    assert "res://missing" in caught.value.message
    assert unknown.is_error and "no_such_tool" in text(unknown)


# -- failures: clear errors, never hangs ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_slow_upstream_times_out_with_a_clear_error(mode: str, upstream_url: str) -> None:
    spec = upstream_spec("url", upstream_url, timeout=0.5)
    with anyio.fail_after(LIMIT):
        async with http_gateway(spec) as url, Client(url, mode=mode, cache=None) as client:
            with anyio.fail_after(5):
                result = await client.call_tool("slow", {"seconds": 20})
            after = await client.call_tool("echo", {"text": "still here"})
    assert result.is_error
    assert "did not answer tools/call 'slow' within 0.5s" in text(result)
    assert upstream_url in text(result)
    payload = {"code": "UPSTREAM_ERROR", "upstream": upstream_url}
    assert (result.meta or {})[ERROR_META_KEY] == payload
    assert result.structured_content is None  # never listed: its output schema is unknown
    assert text(after) == "still here"


@pytest.mark.parametrize("mode", MODES)
async def test_a_crashed_stdio_upstream_is_reported_then_restarted(mode: str) -> None:
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(upstream_spec("command", "")) as url,
            Client(url, mode=mode, cache=None) as client,
        ):
            crashed = await client.call_tool("crash", {})
            again = await client.call_tool("echo", {"text": "back"})
    assert crashed.is_error
    assert "closed the connection" in text(crashed)
    # The command is named by its program only: its arguments may hold credentials.
    assert f"upstream '{Path(sys.executable).name} …'" in text(crashed)
    assert "mcp_upstream.py" not in text(crashed)
    assert "Traceback" not in text(crashed)
    assert not again.is_error and text(again) == "back"


@pytest.mark.parametrize("mode", MODES)
async def test_a_dead_http_upstream_gives_clear_errors(mode: str) -> None:
    proc, upstream = start_upstream_http()
    try:
        await wait_for_port(int(upstream.split(":")[2].split("/")[0]))
        with anyio.fail_after(LIMIT):
            async with (
                http_gateway(upstream_spec("url", upstream)) as url,
                Client(url, mode=mode, cache=None) as client,
            ):
                assert text(await client.call_tool("echo", {"text": "up"})) == "up"
                stop(proc)
                down = await client.call_tool("echo", {"text": "down"})
                with pytest.raises(MCPError) as listing:
                    await client.list_tools()
    finally:
        if proc.poll() is None:
            stop(proc)
    assert down.is_error and upstream in text(down)
    assert listing.value.code == types.INTERNAL_ERROR
    assert upstream in listing.value.message and "Traceback" not in listing.value.message


@pytest.mark.parametrize(
    ("spec", "cause"),
    [
        (UpstreamSpec("/nonexistent/mcp-server --flag", "command"), "No such file"),
        (UpstreamSpec("false", "command"), "exited before completing the MCP handshake"),
        (UpstreamSpec(f"http://127.0.0.1:{free_port()}/mcp", "url"), "ConnectError"),
        (
            UpstreamSpec(
                f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(60)'", "command", 0.5
            ),
            "did not answer within 0.5s",
        ),
    ],
)
async def test_an_unreachable_upstream_stops_start_up(spec: UpstreamSpec, cause: str) -> None:
    with anyio.fail_after(LIMIT), pytest.raises(UpstreamError) as caught:
        async with open_gateway(spec):
            pytest.fail("the gateway started without its upstream")
    assert cause in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_gate_mcp_exits_with_one_line_when_the_upstream_is_missing(
    transport: str, seeded_state: Path
) -> None:
    command = [sys.executable, "-m", "gate.cli", "mcp", "--transport", transport]
    env = {**os.environ, "GATE_STATE_DIR": str(seeded_state)}
    with anyio.fail_after(LIMIT):
        bad_command = await anyio.run_process(
            [*command, "--upstream-command", "false", "--port", str(free_port())],
            check=False,
            env=env,
            cwd=ROOT,
        )
        bad_url = await anyio.run_process(
            [*command, "--upstream-url", f"http://127.0.0.1:{free_port()}/mcp"],
            check=False,
            env=env,
            cwd=ROOT,
        )
    for done in (bad_command, bad_url):
        assert done.returncode == 1
        assert done.stdout == b""  # on stdio, stdout belongs to MCP
        lines = done.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gate mcp: cannot connect to upstream")


async def test_gate_mcp_rejects_bad_arguments() -> None:
    with anyio.fail_after(LIMIT):
        both = await anyio.run_process(
            [
                sys.executable,
                "-m",
                "gate.cli",
                "mcp",
                "--upstream-url",
                "http://x",
                "--upstream-command",
                "y",
            ],
            check=False,
            cwd=ROOT,
        )
        price = await anyio.run_process(
            [sys.executable, "-m", "gate.cli", "mcp", "--upstream-command", "y", "--price", "echo"],
            check=False,
            cwd=ROOT,
        )
    assert both.returncode == 2 and b"exactly one of" in both.stderr
    assert price.returncode == 2 and b"TOOL=TOKENS" in price.stderr


async def test_http_front_keeps_dns_rebinding_protection(upstream_url: str) -> None:
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(upstream_spec("url", upstream_url)) as url,
            httpx2.AsyncClient() as http,
        ):
            response = await http.post(
                url,
                headers={
                    "Host": "evil.example.com",
                    "Accept": "application/json, text/event-stream",
                },
                json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            )
    assert response.status_code == 421


def test_the_gateway_strips_the_key_the_gate_reads() -> None:
    from mcp_server import forward as gateway
    from mcp_server import toolgate

    assert gateway.PASS_META_KEY == toolgate.PASS_META_KEY
    assert gateway.clean_meta({PASS_META_KEY: "p", "io.modelcontextprotocol/x": 1, "k": 2}) == {
        "k": 2
    }


def test_binding_elsewhere_allows_exactly_that_host() -> None:
    from mcp_server.front import transport_security

    assert transport_security("127.0.0.1") is None  # the SDK's own loopback default applies
    settings = transport_security("10.1.2.3")
    assert settings.enable_dns_rebinding_protection
    assert settings.allowed_hosts == ["10.1.2.3", "10.1.2.3:*"]


def test_public_host_names_named_by_the_operator_are_allowed_and_nothing_else() -> None:
    from mcp_server.front import transport_security

    settings = transport_security("0.0.0.0", ["mcp.example.com"])
    assert settings.enable_dns_rebinding_protection
    assert settings.allowed_hosts == [
        "0.0.0.0",
        "0.0.0.0:*",
        "mcp.example.com",
        "mcp.example.com:*",
    ]
    assert "https://mcp.example.com" in settings.allowed_origins
    assert "https://evil.example" not in settings.allowed_origins
    loopback = transport_security("127.0.0.1", ["mcp.example.com"])
    assert loopback.allowed_hosts[-2:] == ["mcp.example.com", "mcp.example.com:*"]


# -- with the gate -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def solver(seeded_state: Path) -> BankSolver:
    from puzzles.db import create_engine

    async def load() -> BankSolver:
        engine = create_engine(f"sqlite+aiosqlite:///{seeded_state / 'gate.db'}")
        try:
            return await BankSolver.load(engine)
        finally:
            await engine.dispose()

    return anyio.run(load)


PRICES = {"echo": 1_500}


async def pay(client: Client, solver: BankSolver, tool: str = "echo") -> str:
    """A pass for ``tool``, the way an agent gets one: gate_challenge, then gate_solve."""
    issued = await client.call_tool("gate_challenge", {"tool": tool})
    challenge = issued.structured_content or {}
    answers = solver.solve(puzzle_from_dict(challenge["puzzle"]))
    solved = await client.call_tool(
        "gate_solve", {"challenge_id": challenge["challenge_id"], "answers": answers}
    )
    token: str = (solved.structured_content or {})["pass"]
    return token


@pytest.mark.parametrize("mode", MODES)
async def test_unpaid_priced_tool_is_refused_and_free_tools_pass(
    mode: str, seeded_state: Path
) -> None:
    spec = upstream_spec("command", "")
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(spec, rules=tool_rules(PRICES), config=gate_config(seeded_state)) as url,
            Client(url, mode=mode, cache=None) as client,
        ):
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            unpaid = await client.call_tool("echo", {"text": "free lunch"})
            free = await client.call_tool("add", {"a": 1, "b": 1})
    assert {"gate_challenge", "gate_solve", "echo", "add"} <= set(tools)
    assert "1500 solver tokens" in (tools["echo"].description or "")
    assert "solver tokens" not in (tools["add"].description or "")
    assert unpaid.is_error and "free lunch" not in text(unpaid)
    assert (unpaid.meta or {})[ERROR_META_KEY]["error"] == "payment_required"
    assert free.structured_content == {"total": 2}


@pytest.mark.parametrize("mode", MODES)
async def test_a_pass_from_gate_solve_pays_through_the_gateway(
    mode: str, upstream_url: str, seeded_state: Path, solver: BankSolver
) -> None:
    spec = upstream_spec("url", upstream_url)
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(spec, rules=tool_rules(PRICES), config=gate_config(seeded_state)) as url,
            Client(url, mode=mode, cache=None) as client,
        ):
            token = await pay(client, solver)
            paid = await client.call_tool("echo", {"text": "paid"}, meta={PASS_META_KEY: token})
            # A free tool called with the pass: the upstream never sees the credential.
            relayed = await client.call_tool("meta", {}, meta={PASS_META_KEY: token})
    assert not paid.is_error and text(paid) == "paid"
    assert relayed.structured_content == {}


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_that_answers_the_puzzle_is_served(
    mode: str, seeded_state: Path, solver: BankSolver
) -> None:
    """2026: the gate's InputRequiredResult; legacy: elicitation over the stateful session."""

    async def answer(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        puzzle = puzzle_from_dict(params.meta[PUZZLE_META_KEY]["puzzle"])  # type: ignore[index]
        words = solver.solve(puzzle)
        content = {f"hidden_word_{n}": word for n, word in enumerate(words, start=1)}
        return types.ElicitResult(action="accept", content=content)

    spec = upstream_spec("command", "")
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(spec, rules=tool_rules(PRICES), config=gate_config(seeded_state)) as url,
            Client(url, mode=mode, cache=None, elicitation_callback=answer) as client,
        ):
            result = await client.call_tool("echo", {"text": "solved"})
    assert not result.is_error and text(result) == "solved"
    assert isinstance((result.meta or {}).get(PASS_META_KEY), str)


async def test_stdio_front_prices_tools(upstream_url: str, seeded_state: Path) -> None:
    target = stdio_gateway("url", upstream_url, seeded_state, "--price", "echo=1500")
    with anyio.fail_after(LIMIT):
        async with Client(target, cache=None) as client:
            unpaid = await client.call_tool("echo", {"text": "x"})
            free = await client.call_tool("add", {"a": 2, "b": 2})
    assert (unpaid.meta or {})[ERROR_META_KEY]["error"] == "payment_required"
    assert free.structured_content == {"total": 4}
