"""``gate mcp`` with third-party pieces: reference servers as upstreams, other SDKs as clients.

Upstreams: ``mcp-server-time`` and ``mcp-server-git`` (PyPI, stdio), ``server-everything`` (npm,
streamable HTTP on loopback, session-based), and ``tests/mcp_upstream.py``.  Clients: the Python
SDK's and the TypeScript SDK's, 1.x (``@modelcontextprotocol/sdk``, what the MCP Inspector
embeds) and 2.x (``@modelcontextprotocol/client``), driven by ``tests/js/client.mjs``.  The npm
packages are installed by ``make test`` (``npm ci`` in ``tests/js``); without them these tests
fail, they never skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, MCPError, StdioServerParameters

from gate.puzzle import puzzle_from_dict
from mcp_server.gateway import GatewayError, UpstreamSpec, open_gateway
from mcp_server.toolgate import (
    BUDGET_META_KEY,
    ERROR_META_KEY,
    PASS_META_KEY,
    PUZZLE_META_KEY,
    tool_rules,
)
from tests.bank_solver import BankSolver
from tests.support import free_port
from tests.test_mcp_gateway import (
    ROOT,
    UPSTREAM_COMMAND,
    gate_config,
    http_gateway,
    quiet_client_transport_logs,
    start_upstream_http,
    stop,
    text,
    wait_for_port,
)

__all__ = ["quiet_client_transport_logs"]  # an autouse fixture: the leak scan hunts answers

JS = ROOT / "tests" / "js"
EVERYTHING = (
    JS / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
)
BIN = Path(sys.executable).parent
LIMIT = 60


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None or not EVERYTHING.exists():
        pytest.fail(
            "node and tests/js/node_modules are needed: run `make test` (npm ci in tests/js)"
        )
    return found


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


class Everything:
    """``server-everything`` over streamable HTTP on a loopback port, restartable in place."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.node, "--require", str(JS / "loopback.cjs"), str(EVERYTHING), "streamableHttp"],
            env={**os.environ, "PORT": str(self.port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Blocking on purpose: also called from async tests, where nothing else runs meanwhile.
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop(self.proc)


@pytest.fixture
def everything(node: str) -> Iterator[Everything]:
    server = Everything(node)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def stdio_spec(*command: str, timeout: float = 15.0) -> UpstreamSpec:
    return UpstreamSpec(" ".join(command), "command", timeout)


async def ts_client(
    generation: str, url: str, *steps: dict[str, Any], env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Run the TypeScript SDK client script; one parsed line per step.  ``url`` may be
    ``stdio:["cmd", ...]`` (a server the client spawns, with ``env``)."""
    done = await anyio.run_process(
        ["node", str(JS / "client.mjs"), generation, url, json.dumps(list(steps))],
        cwd=JS,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


async def outcome(call: Awaitable[Any]) -> tuple[Any, ...]:
    """What a client sees of one request: the JSON-RPC error whole, or the result."""
    try:
        result = await call
    except MCPError as exc:
        return ("error", exc.code, exc.message, exc.error.data)
    dumped = result.model_dump(mode="json", exclude_none=True, by_alias=True)
    dumped.pop("_meta", None)
    return ("result", dumped)


# -- 1: every SDK sees the puzzle, and the paid result validates -----------------------------------


@pytest.mark.parametrize("generation", ["1", "2"])
async def test_typescript_clients_see_the_puzzle_for_a_tool_with_an_output_schema(
    generation: str, everything: Everything, seeded_state: Path, solver: BankSolver
) -> None:
    """``get-structured-content`` declares an outputSchema; TS SDK 1.x validates even error
    results against it (-32602 before the fix), 2.x does not."""
    rules = tool_rules({"get-structured-content": 1_500})
    spec = UpstreamSpec(everything.url, "url", 15)
    args = {"location": "New York"}
    with anyio.fail_after(LIMIT):
        async with http_gateway(spec, rules=rules, config=gate_config(seeded_state)) as url:
            listed, unpaid = await ts_client(
                generation,
                url,
                {"op": "listTools"},
                {"op": "callTool", "name": "get-structured-content", "arguments": args},
            )
            assert "ok" in unpaid, unpaid
            refusal = unpaid["ok"]
            challenge = refusal["_meta"][ERROR_META_KEY]["challenge"]
            async with Client(url, cache=None) as python:
                solved = await python.call_tool(
                    "gate_solve",
                    {
                        "challenge_id": challenge["challenge_id"],
                        "answers": solver.solve(puzzle_from_dict(challenge["puzzle"])),
                    },
                )
            token = (solved.structured_content or {})["pass"]
            _, paid = await ts_client(
                generation,
                url,
                {"op": "listTools"},
                {
                    "op": "callTool",
                    "name": "get-structured-content",
                    "arguments": args,
                    "meta": {PASS_META_KEY: token},
                },
            )
    schemas = {tool["name"]: tool.get("outputSchema") for tool in listed["ok"]["tools"]}
    assert schemas["get-structured-content"] is not None
    assert refusal["isError"] is True and "structuredContent" not in refusal
    assert "solve a puzzle first" in refusal["content"][0]["text"]
    assert "ok" in paid, paid  # the SDK validated the tool's structured content
    assert paid["ok"]["isError"] is False and "temperature" in paid["ok"]["structuredContent"]
    assert paid["ok"]["_meta"][BUDGET_META_KEY] == 19


@pytest.mark.parametrize("generation", ["1", "2"])
async def test_typescript_clients_see_the_puzzle_over_the_stdio_front(
    generation: str, everything: Everything, seeded_state: Path
) -> None:
    command = [
        sys.executable,
        "-m",
        "gate.cli",
        "mcp",
        "--transport",
        "stdio",
        "--upstream-url",
        everything.url,
        "--price",
        "get-structured-content=1500",
    ]
    with anyio.fail_after(LIMIT):
        listed, unpaid, free = await ts_client(
            generation,
            "stdio:" + json.dumps(command),
            {"op": "listTools"},
            {
                "op": "callTool",
                "name": "get-structured-content",
                "arguments": {"location": "Paris"},
            },
            {"op": "callTool", "name": "echo", "arguments": {"message": "free"}},
            env={"GATE_STATE_DIR": str(seeded_state)},
        )
    assert "gate_solve" in {tool["name"] for tool in listed["ok"]["tools"]}
    assert "ok" in unpaid, unpaid
    assert unpaid["ok"]["isError"] is True and "structuredContent" not in unpaid["ok"]
    assert unpaid["ok"]["_meta"][ERROR_META_KEY]["error"] == "payment_required"
    assert free["ok"]["content"][0]["text"] == "Echo: free"


async def test_the_gate_keeps_structured_errors_for_tools_without_an_output_schema(
    seeded_state: Path, tmp_path: Path
) -> None:
    # mcp-server-git's tools declare no outputSchema: the gate's errors keep structuredContent.
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    spec = stdio_spec(str(BIN / "mcp-server-git"), "--repository", str(repo))
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(
                spec, rules=tool_rules({"git_status": 1_500}), config=gate_config(seeded_state)
            ) as url,
            Client(url, cache=None) as client,
        ):
            unpaid = await client.call_tool("git_status", {"repo_path": str(repo)})
    assert unpaid.is_error
    assert (unpaid.structured_content or {})["error"] == "payment_required"
    assert (unpaid.meta or {})[ERROR_META_KEY] == unpaid.structured_content


# -- 2, 6: the upstream's errors pass through unchanged ---------------------------------------------


UNPRICED_ERRORS: dict[str, list[tuple[str, Any]]] = {
    "time": [
        ("tool", ("nope", {})),
        ("tool", ("get_current_time", {"timezone": "Mars/Olympus"})),
        ("tool", ("get_current_time", {})),
    ],
    "git": [("tool", ("nope", {})), ("tool", ("git_status", {"repo_path": "/etc"}))],
    "everything": [
        ("tool", ("nope", {})),
        ("tool", ("get-sum", {"a": "not a number"})),
        ("read", "demo://resource/nonexistent/404"),
        ("prompt", ("no-such-prompt", {})),
    ],
    "tests": [
        ("tool", ("refuse", {"code": -32001})),
        ("tool", ("refuse", {"code": -32602})),
        ("tool", ("refuse", {"code": 4242})),
        ("read", "res://missing"),
    ],
}


def _requests(client: Client, calls: list[tuple[str, Any]]) -> list[Awaitable[Any]]:
    out: list[Awaitable[Any]] = []
    for kind, what in calls:
        if kind == "tool":
            out.append(client.session.call_tool(what[0], what[1]))
        elif kind == "read":
            out.append(client.read_resource(what))
        else:
            out.append(client.get_prompt(what[0], what[1]))
    return out


@asynccontextmanager
async def reference_upstream(name: str, node: str, tmp: Path) -> AsyncIterator[tuple[Any, str]]:
    """(what the direct client connects to, what the gateway fronts) for one upstream."""
    if name == "time":
        command = [str(BIN / "mcp-server-time")]
    elif name == "git":
        subprocess.run(["git", "init", "-q", str(tmp / "repo")], check=True)
        command = [str(BIN / "mcp-server-git"), "--repository", str(tmp / "repo")]
    elif name == "tests":
        command = UPSTREAM_COMMAND.split(" ")
    else:
        server = Everything(node)
        server.start()
        try:
            yield server.url, server.url
        finally:
            server.stop()
        return
    yield StdioServerParameters(command=command[0], args=command[1:]), " ".join(command)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("name", list(UNPRICED_ERRORS))
async def test_an_upstream_error_on_an_unpriced_call_reaches_the_client_unchanged(
    name: str, mode: str, node: str, tmp_path: Path, seeded_state: Path
) -> None:
    calls = UNPRICED_ERRORS[name]
    async with reference_upstream(name, node, tmp_path) as (direct_target, front_target):
        with anyio.fail_after(LIMIT):
            async with Client(direct_target, mode="auto", cache=None) as direct:
                await direct.list_tools()
                expected = [await outcome(call) for call in _requests(direct, calls)]
            kind = "url" if front_target.startswith("http") else "command"
            spec = UpstreamSpec(front_target, kind, 15)
            # Some --price is set, so the gate is installed: its handler must not touch the rest.
            priced = {"time": "convert_time", "git": "git_log", "tests": "echo"}
            rules = tool_rules({priced.get(name, "echo"): 1_500})
            async with (
                http_gateway(spec, rules=rules, config=gate_config(seeded_state)) as url,
                Client(url, mode=mode, cache=None) as client,
            ):
                await client.list_tools()
                started = time.monotonic()
                seen = [await outcome(call) for call in _requests(client, calls)]
                elapsed = time.monotonic() - started
    assert seen == expected
    assert any(item[0] == "error" for item in expected)
    assert elapsed < 10  # -32001 from the upstream is its own error, not a 30 s timeout


async def test_an_upstream_minus_32001_is_not_reported_as_a_timeout(seeded_state: Path) -> None:
    spec = UpstreamSpec(UPSTREAM_COMMAND, "command", 30)
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(
                spec, rules=tool_rules({"echo": 1_500}), config=gate_config(seeded_state)
            ) as url,
            Client(url, cache=None) as client,
        ):
            with pytest.raises(MCPError) as caught:
                await client.call_tool("refuse", {"code": -32001})
    assert caught.value.code == -32001
    assert caught.value.message == "refused by the upstream (-32001)"
    assert caught.value.error.data == {"why": "asked to"}
    assert "did not answer" not in caught.value.message


# -- 3: no secrets in anything the gateway says -------------------------------------------------------


def _rpc(ident: int, method: str, params: dict[str, Any] | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
    if params is not None:
        message["params"] = params
    return (json.dumps(message) + "\n").encode()


async def test_upstream_secrets_appear_in_no_message_and_no_log(
    seeded_state: Path, tmp_path: Path
) -> None:
    """Every byte ``gate mcp`` writes (MCP on stdout, logs on stderr) is scanned for the
    upstream URL's user, password and query token, while the upstream times out, dies and
    cannot be reached again."""
    proc, plain = start_upstream_http()
    await wait_for_port(int(plain.split(":")[2].split("/")[0]))
    port = plain.split(":")[2].split("/")[0]
    secrets = ("agent-smith", "hunter2-PASSWORD", "tok-SECRET-123")
    url = f"http://{secrets[0]}:{secrets[1]}@127.0.0.1:{port}/mcp?token={secrets[2]}"
    command = [
        sys.executable,
        "-m",
        "gate.cli",
        "mcp",
        "--transport",
        "stdio",
        "--upstream-url",
        url,
        "--upstream-timeout",
        "1",
        "--price",
        "echo=1500",
    ]
    env = {**os.environ, "GATE_STATE_DIR": str(seeded_state)}
    requests = [
        _rpc(
            1,
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        ),
        b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n',
        _rpc(2, "tools/list"),
        _rpc(3, "tools/call", {"name": "echo", "arguments": {"text": "x"}}),
        _rpc(4, "tools/call", {"name": "slow", "arguments": {"seconds": 5}}),
        _rpc(5, "tools/call", {"name": "refuse", "arguments": {"code": -32001}}),
    ]
    after_death = [
        _rpc(6, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}),
        _rpc(7, "resources/read", {"uri": "res://readme"}),
        _rpc(8, "tools/list"),
    ]
    out = bytearray()
    try:
        with anyio.fail_after(LIMIT):
            async with await anyio.open_process(command, env=env, cwd=ROOT) as gateway:
                assert gateway.stdin is not None and gateway.stdout is not None

                async def read_until(count: int) -> None:
                    assert gateway.stdout is not None
                    while out.count(b"\n") < count:
                        out.extend(await gateway.stdout.receive())

                for request in requests:
                    await gateway.stdin.send(request)
                await read_until(5)
                stop(proc)
                for request in after_death:
                    await gateway.stdin.send(request)
                await read_until(8)
                await gateway.stdin.aclose()
                assert gateway.stderr is not None
                err = bytearray()
                async for chunk in gateway.stderr:
                    err.extend(chunk)
                await gateway.wait()
        startup = await anyio.run_process(
            [*command[:-2], "--price", "echo=1500"], env=env, cwd=ROOT, check=False
        )
    finally:
        if proc.poll() is None:
            stop(proc)
    said = bytes(out) + bytes(err) + startup.stdout + startup.stderr
    for secret in secrets:
        assert secret.encode() not in said
    replies = [json.loads(line) for line in bytes(out).splitlines()]
    failures = json.dumps(replies[3:])
    assert "did not answer" in failures and "127.0.0.1" in failures  # errors were reported
    assert "cannot connect to upstream 'http://127.0.0.1:" in startup.stderr.decode()


def test_a_command_upstream_is_named_by_its_program_only() -> None:
    spec = UpstreamSpec("/opt/mcp/server --api-key sk-live-1234 --verbose", "command")
    assert spec.label == "upstream 'server …'"
    assert "sk-live-1234" not in spec.scrub("spawn /opt/mcp/server --api-key sk-live-1234 failed")
    assert "sk-live-1234" not in repr(spec)
    url = UpstreamSpec("https://u:p%40ss@mcp.example.com:8443/mcp?key=abc123#frag", "url")
    assert url.public == "https://mcp.example.com:8443/mcp"
    assert url.scrub("GET https://u:p%40ss@mcp.example.com:8443/mcp?key=abc123 p@ss") == (
        "GET https://***@mcp.example.com:8443/mcp?*** ***"
    )


# -- 4: completions ----------------------------------------------------------------------------------


async def test_completions_are_relayed(everything: Everything) -> None:
    ref = types.PromptReference(type="ref/prompt", name="completable-prompt")
    spec = UpstreamSpec(everything.url, "url", 15)
    with anyio.fail_after(LIMIT):
        async with Client(everything.url, cache=None) as direct:
            expected = await direct.session.complete(ref, {"name": "department", "value": "E"})
            in_context = await direct.session.complete(
                ref, {"name": "name", "value": ""}, {"department": "Engineering"}
            )
        async with http_gateway(spec) as url, Client(url, cache=None) as client:
            seen = await client.session.complete(ref, {"name": "department", "value": "E"})
            seen_in_context = await client.session.complete(
                ref, {"name": "name", "value": ""}, {"department": "Engineering"}
            )
            (typescript,) = await ts_client(
                "1",
                url,
                {
                    "op": "complete",
                    "params": {
                        "ref": {"type": "ref/prompt", "name": "completable-prompt"},
                        "argument": {"name": "department", "value": "S"},
                    },
                },
            )
    assert seen.completion.values == expected.completion.values == ["Engineering"]
    assert seen_in_context.completion.values == in_context.completion.values
    assert "Alice" in seen_in_context.completion.values
    assert typescript["ok"]["completion"]["values"] == ["Sales", "Support"]


# -- 5: the pass after an in-band payment for a tool that asks its own question --------------------


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_pass_reaches_the_final_result_when_the_paid_tool_asks_its_own_question(
    mode: str, seeded_state: Path, solver: BankSolver
) -> None:
    asked: list[str] = []

    async def answer(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        meta = params.meta or {}
        if PUZZLE_META_KEY in meta:
            asked.append("puzzle")
            words = solver.solve(puzzle_from_dict(meta[PUZZLE_META_KEY]["puzzle"]))
            content = {f"hidden_word_{n}": word for n, word in enumerate(words, start=1)}
            return types.ElicitResult(action="accept", content=content)
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    spec = UpstreamSpec(UPSTREAM_COMMAND, "command", 15)
    rules = tool_rules({"ask_name": 1_500}, budget=5)
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(spec, rules=rules, config=gate_config(seeded_state)) as url,
            Client(url, mode=mode, cache=None, elicitation_callback=answer) as client,
        ):
            result = await client.call_tool("ask_name", {})
            token = (result.meta or {}).get(PASS_META_KEY)
            again = await client.call_tool("ask_name", {}, meta={PASS_META_KEY: token})
    assert not result.is_error and text(result) == "Hello Ada"
    assert asked[:2] == ["puzzle", "What is your name?"]
    assert isinstance(token, str)
    assert (result.meta or {})[BUDGET_META_KEY] == 4
    assert (again.meta or {})[BUDGET_META_KEY] == 3 and text(again) == "Hello Ada"


# -- 7: a session-based upstream that restarts --------------------------------------------------------


@pytest.mark.parametrize("priced", [False, True])
async def test_a_restarted_session_based_upstream_is_served_again(
    priced: bool, everything: Everything, seeded_state: Path
) -> None:
    spec = UpstreamSpec(everything.url, "url", 15)
    rules = tool_rules({"get-sum": 1_500}) if priced else None
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(spec, rules=rules, config=gate_config(seeded_state)) as url,
            Client(url, mode="legacy", cache=None) as client,
        ):
            before = await client.call_tool("echo", {"message": "before"})
            everything.stop()
            everything.start()  # same port, new process: it knows no session
            after = await client.call_tool("echo", {"message": "after"})
            (typescript,) = await ts_client(
                "1", url, {"op": "callTool", "name": "echo", "arguments": {"message": "ts"}}
            )
    assert text(before) == "Echo: before"
    assert not after.is_error and text(after) == "Echo: after"
    assert typescript["ok"]["content"][0]["text"] == "Echo: ts"


# -- 8: the upstream's requests and notifications -------------------------------------------------


async def test_the_upstream_sees_the_capabilities_and_its_requests_reach_the_client(
    everything: Everything,
) -> None:
    """server-everything lists its sampling, elicitation and roots tools only to clients that
    declare those capabilities; through the gateway each client's own declaration reaches it,
    and the upstream's requests reach the client they belong to."""
    progress: list[float] = []

    async def on_progress(value: float, _total: float | None, _message: str | None) -> None:
        progress.append(value)

    async def elicit(_context: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def roots(_context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/project", name="proj")])

    spec = UpstreamSpec(everything.url, "url", 30)
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(spec) as url,
            Client(
                url,
                mode="legacy",
                cache=None,
                elicitation_callback=elicit,
                list_roots_callback=roots,
            ) as client,
        ):
            names = {tool.name for tool in (await client.list_tools()).tools}
            elicited = await client.call_tool("trigger-elicitation-request", {})
            rooted = await client.call_tool("get-roots-list", {})
            long = await client.session.call_tool(
                "trigger-long-running-operation",
                {"duration": 0.6, "steps": 3},
                progress_callback=on_progress,
            )
            sampled, _seen = await ts_client(
                "1",
                url,
                {
                    "op": "options",
                    "sampling": {
                        "role": "assistant",
                        "model": "test-model",
                        "content": {"type": "text", "text": "sampled through the gateway"},
                    },
                },
                {
                    "op": "callTool",
                    "name": "trigger-sampling-request",
                    "arguments": {"prompt": "hi"},
                },
                {"op": "seen"},
            )
    # Each client's own capabilities reach the upstream: this one declared no sampling.
    assert {"trigger-elicitation-request", "get-roots-list"} <= names
    assert "trigger-sampling-request" not in names
    assert "Ada" in json.dumps(elicited.model_dump(mode="json"))
    assert "file:///tmp/project" in json.dumps(rooted.model_dump(mode="json"))
    assert not long.is_error and progress == [1, 2, 3]
    assert "sampled through the gateway" in sampled["ok"]["content"][0]["text"]


# -- 9, 11: start-up ------------------------------------------------------------------------------------


async def test_an_unknown_price_name_stops_start_up_unless_allowed(seeded_state: Path) -> None:
    spec = UpstreamSpec(UPSTREAM_COMMAND, "command", 15)
    rules = tool_rules({"ecoh": 1_500})
    with anyio.fail_after(LIMIT):
        with pytest.raises(GatewayError) as caught:
            async with open_gateway(spec, rules=rules, config=gate_config(seeded_state)):
                pytest.fail("started with a priced tool the upstream does not have")
        async with open_gateway(
            spec, rules=rules, config=gate_config(seeded_state), allow_unlisted=True
        ):
            pass
    message = str(caught.value)
    assert "'ecoh'" in message and "echo, add" in message and "\n" not in message


def _port_in_use() -> tuple[Any, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


@pytest.mark.parametrize(
    ("extra", "cause"),
    [
        (["--redis-url", "redis://127.0.0.1:1/0"], "Redis is unreachable"),
        (["--database-url", "postgresql+asyncpg://nobody@127.0.0.1:1/none"], "cannot start"),
        (["--price", "echo=100000000"], "exceeds what one challenge can cost"),
        (["--price", "ecoh=1500"], "'ecoh'"),
        (["--port-in-use"], "cannot listen on 127.0.0.1"),
    ],
)
async def test_gate_mcp_start_up_failures_are_one_line(
    extra: list[str], cause: str, seeded_state: Path
) -> None:
    holder, port = _port_in_use()
    if extra == ["--port-in-use"]:
        extra = ["--price", "echo=1500"]
    else:
        holder.close()
        extra = [*extra, "--price", "add=1500"]
    try:
        with anyio.fail_after(LIMIT):
            done = await anyio.run_process(
                [
                    sys.executable,
                    "-m",
                    "gate.cli",
                    "mcp",
                    "--upstream-command",
                    UPSTREAM_COMMAND,
                    "--port",
                    str(port),
                    *extra,
                ],
                env={**os.environ, "GATE_STATE_DIR": str(seeded_state)},
                cwd=ROOT,
                check=False,
            )
    finally:
        holder.close()
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith("gate mcp: "), lines
    assert cause in lines[0]


# -- 10: passes are charged for served calls only; an idle stdio upstream that died ---------------


async def test_a_failed_upstream_call_gives_its_use_back(
    seeded_state: Path, solver: BankSolver
) -> None:
    spec = UpstreamSpec(UPSTREAM_COMMAND, "command", 8)
    rules = tool_rules(
        {"echo": 1_500, "boom": 1_500, "refuse": 1_500, "slow": 1_500}, budget=5, scope="mcp:bundle"
    )
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(spec, rules=rules, config=gate_config(seeded_state)) as url,
            Client(url, cache=None) as client,
        ):
            issued = (await client.call_tool("gate_challenge", {"tool": "echo"})).structured_content
            assert issued is not None
            solved = await client.call_tool(
                "gate_solve",
                {
                    "challenge_id": issued["challenge_id"],
                    "answers": solver.solve(puzzle_from_dict(issued["puzzle"])),
                },
            )
            meta = {PASS_META_KEY: (solved.structured_content or {})["pass"]}
            first = await client.call_tool("echo", {"text": "a"}, meta=meta)
            failed = await client.call_tool("boom", {}, meta=meta)
            timed_out = await client.call_tool("slow", {"seconds": 30}, meta=meta)
            with pytest.raises(MCPError):
                await client.call_tool("refuse", {"code": -32602}, meta=meta)
            second = await client.call_tool("echo", {"text": "b"}, meta=meta)
    assert (first.meta or {})[BUDGET_META_KEY] == 4
    assert failed.is_error and (failed.meta or {})[BUDGET_META_KEY] == 4
    assert timed_out.is_error and (timed_out.meta or {})[BUDGET_META_KEY] == 4
    assert (second.meta or {})[BUDGET_META_KEY] == 3


async def test_a_stdio_upstream_that_dies_while_idle_is_restarted_for_the_next_call() -> None:
    spec = UpstreamSpec(UPSTREAM_COMMAND, "command", 15)
    with anyio.fail_after(LIMIT):
        async with http_gateway(spec) as url, Client(url, cache=None) as client:
            assert text(await client.call_tool("exit_soon", {})) == "bye"
            await anyio.sleep(1)  # the upstream exits 0.2 s after answering
            after = await client.call_tool("echo", {"text": "still served"})
    assert not after.is_error and text(after) == "still served"


async def test_resource_updates_reach_the_sessions_that_subscribed(everything: Everything) -> None:
    """server-everything sends ``notifications/resources/updated`` every 5 s for what a session
    subscribed to once its updates are switched on; through the gateway they reach the client."""
    updated = anyio.Event()
    seen: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            seen.append(str(message.params.uri))
            updated.set()

    spec = UpstreamSpec(everything.url, "url", 15)
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(spec) as url,
            Client(url, mode="legacy", cache=None, message_handler=on_message) as client,
        ):
            uri = str((await client.list_resources()).resources[0].uri)
            await client.session.send_request(
                types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri)),
                types.EmptyResult,
            )
            await client.call_tool("toggle-subscriber-updates", {})
            with anyio.fail_after(15):
                await updated.wait()
    assert seen[0] == uri


@pytest.mark.parametrize("generation", ["1", "2"])
async def test_typescript_clients_set_their_log_level_through_a_shared_2026_session(
    generation: str, node: str
) -> None:
    """A stdio upstream's one session speaks 2026-07-28 (no ``logging/setLevel``): the gateway
    keeps each TypeScript client's level and its calls ask the upstream for that level."""
    spec = UpstreamSpec(UPSTREAM_COMMAND, "command", 15)
    with anyio.fail_after(LIMIT):
        async with http_gateway(spec) as url:
            quiet, hidden, loud, heard, seen = await ts_client(
                generation,
                url,
                {"op": "options", "logs": True},
                {"op": "setLevel", "level": "warning"},
                {"op": "callTool", "name": "shout", "arguments": {"text": "an info line"}},
                {"op": "setLevel", "level": "info"},
                {"op": "callTool", "name": "shout", "arguments": {"text": "heard"}},
                {"op": "seen"},
            )
    assert quiet == loud == {"ok": {}}
    assert hidden["ok"]["isError"] is False and heard["ok"]["isError"] is False
    assert seen["ok"] == [
        {
            "method": "notifications/message",
            "params": {"level": "info", "logger": "shout", "data": "heard"},
        }
    ]
