"""``gate mcp --workers 2``: two real gateway processes on one port and one Redis, driven by the
SDK's client over connections the kernel spreads over both (no keep-alive: every request is a new
connection).  (The memory store's refusal of ``--workers`` is tests/test_workers.py's.)  A pass
one worker minted is honoured by the other and its budget is one; a
handshake-era session opened on one worker is served whichever worker its requests reach."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gate.puzzle import puzzle_from_dict
from mcp_server.toolgate import ERROR_META_KEY, PASS_META_KEY, PUZZLE_META_KEY
from tests.bank_solver import BankSolver
from tests.support import free_port, gate_workers, process_gone, stopped_together
from tests.test_mcp_gateway import pay, start_upstream_http, stop, text, wait_for_port
from tests.test_mcp_gateway import solver as solver  # a fixture, shared

LIMIT = 60
BUDGET = 4


@contextlib.contextmanager
def worker_group(
    state: Path, redis_url: str
) -> Iterator[tuple[subprocess.Popen[str], str, set[str]]]:
    """``gate mcp --workers 2 --price echo=1500``: the first process, its URL and the two
    workers' pids, once both serve."""
    upstream, upstream_url = start_upstream_http()
    anyio.run(wait_for_port, int(upstream_url.split(":")[2].split("/")[0]))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env.update(GATE_STATE_DIR=str(state), GATE_DECODE_RATE="1000000000")
    env["GATE_HUMAN_FLOOR"] = "0"
    args = ["mcp", "--upstream-url", upstream_url, "--price", "echo=1500"]
    args += ["--budget", str(BUDGET), "--port", str(port), "--redis-url", redis_url]
    # This module's clients log every message they send at DEBUG, answers included; the words come
    # from the workers' challenges, which the suite's leak scan (tests/plugins/leaks.py) cannot tell
    # from the same words issued in this process by other modules, so those lines stay unlogged.
    client_log = logging.getLogger("mcp.client.streamable_http")
    level = client_log.level
    client_log.setLevel(logging.INFO)
    try:
        with gate_workers(
            [*args, "--workers", "2"], env, announced=r"worker pid (\d+)", on_stderr=True
        ) as (process, pids):
            yield process, f"http://127.0.0.1:{port}/mcp", pids
    finally:
        client_log.setLevel(level)
        stop(upstream)


@pytest.fixture(scope="module")
def workers(seeded_state: Path, own_redis_url: str) -> Iterator[tuple[str, set[str]]]:
    """The group's URL and pids; it must stop cleanly, the first process stopping the other."""
    with worker_group(seeded_state, own_redis_url) as (process, url, pids):
        yield url, pids
    stopped_together(process, pids)


def test_the_other_workers_stop_when_the_first_is_killed(
    seeded_state: Path, own_redis_url: str
) -> None:
    with worker_group(seeded_state, own_redis_url) as (process, _url, pids):
        process.kill()  # no clean-up runs in it: the kernel tells the other worker
        process.wait(timeout=10)
        others = pids - {str(process.pid)}
        deadline = time.monotonic() + 20
        while not all(process_gone(pid) for pid in others):
            assert time.monotonic() < deadline, f"worker(s) {others} outlived the first process"
            time.sleep(0.1)


@asynccontextmanager
async def spread_client(
    url: str, mode: str, sessions: set[str] | None = None, **options: Any
) -> AsyncIterator[Client]:
    """A client whose every request opens a new connection, so the kernel picks a worker each
    time; the session ids the gateway hands out are added to ``sessions``."""

    async def seen(response: httpx2.Response) -> None:
        if sessions is not None and "mcp-session-id" in response.headers:
            sessions.add(response.headers["mcp-session-id"])

    async with httpx2.AsyncClient(
        limits=httpx2.Limits(max_keepalive_connections=0),
        timeout=httpx2.Timeout(30, read=300),
        event_hooks={"response": [seen]},
    ) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, cache=None, **options) as client:  # type: ignore[arg-type]
            yield client


async def test_a_pass_minted_by_one_worker_is_honoured_by_the_other_on_one_budget(
    workers: tuple[str, set[str]], solver: BankSolver
) -> None:
    """Handshake-era sessions, each served by its own worker (whichever worker a request
    reaches): the pass one worker minted pays on the other, from one budget."""
    url, pids = workers
    with anyio.fail_after(LIMIT):
        async with contextlib.AsyncExitStack() as stack:
            by_owner: dict[str, Client] = {}
            for _ in range(16):  # until both workers hold a session (each lands on either)
                sessions: set[str] = set()
                client = await stack.enter_async_context(spread_client(url, "legacy", sessions))
                await client.list_tools()
                by_owner.setdefault(sessions.pop().partition("-")[0], client)
                if len(by_owner) == 2:
                    break
            assert set(by_owner) == pids
            minter, other = by_owner.values()
            token = await pay(minter, solver)
            paid = [
                await (other if n % 2 == 0 else minter).call_tool(
                    "echo", {"text": f"call {n}"}, meta={PASS_META_KEY: token}
                )
                for n in range(BUDGET)
            ]
            spent = await other.call_tool(
                "echo", {"text": "one too many"}, meta={PASS_META_KEY: token}
            )
    assert [text(result) for result in paid] == [f"call {n}" for n in range(BUDGET)]
    remaining = [(result.meta or {}).get("reasoning-gate/budget-remaining") for result in paid]
    assert remaining == list(range(BUDGET - 1, -1, -1))
    assert spent.is_error and (spent.meta or {})[ERROR_META_KEY]["error"] == "payment_required"


async def test_2026_clients_pay_and_spend_wherever_their_requests_land(
    workers: tuple[str, set[str]], solver: BankSolver
) -> None:
    """No session: each request (a new connection) is served by the worker the kernel picks."""
    url, _pids = workers
    with anyio.fail_after(LIMIT):
        async with spread_client(url, "2026-07-28") as client:
            token = await pay(client, solver)  # on whichever worker its requests reach
            # Calls spread over both workers (a new connection each) spend the one budget.
            paid = [
                await client.call_tool("echo", {"text": f"call {n}"}, meta={PASS_META_KEY: token})
                for n in range(BUDGET)
            ]
            spent = await client.call_tool(
                "echo", {"text": "one too many"}, meta={PASS_META_KEY: token}
            )
    assert [text(result) for result in paid] == [f"call {n}" for n in range(BUDGET)]
    remaining = [(result.meta or {}).get("reasoning-gate/budget-remaining") for result in paid]
    assert remaining == list(range(BUDGET - 1, -1, -1))
    assert spent.is_error and (spent.meta or {})[ERROR_META_KEY]["error"] == "payment_required"


async def test_a_legacy_session_is_served_by_its_worker_whichever_worker_a_request_reaches(
    workers: tuple[str, set[str]], solver: BankSolver
) -> None:
    """Elicitation rides the session: the gate's question goes out on one connection and the
    answer comes back on another, possibly to the other worker, which passes it on."""
    url, pids = workers

    async def answer(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        puzzle = puzzle_from_dict(params.meta[PUZZLE_META_KEY]["puzzle"])  # type: ignore[index]
        words = solver.solve(puzzle)
        content = {f"hidden_word_{n}": word for n, word in enumerate(words, start=1)}
        return types.ElicitResult(action="accept", content=content)

    sessions: set[str] = set()
    with anyio.fail_after(LIMIT):
        for n in range(6):  # sessions land on either worker; each is served throughout
            async with spread_client(
                url, "legacy", sessions, elicitation_callback=answer
            ) as client:
                results = [await client.call_tool("echo", {"text": f"s{n}c{k}"}) for k in range(3)]
                listed = await client.list_tools()
            assert [text(result) for result in results] == [f"s{n}c{k}" for k in range(3)]
            assert {"echo", "gate_solve"} <= {tool.name for tool in listed.tools}
    owners = {session.partition("-")[0] for session in sessions}
    assert len(sessions) == 6 and owners <= pids


def test_workers_serve_streamable_http_only(tmp_path: Path) -> None:
    env = {**os.environ, "GATE_STATE_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "gate.cli", "mcp", "--upstream-url", "http://127.0.0.1:9/mcp"]
    command += ["--transport", "stdio", "--redis-url", "redis://127.0.0.1:9/0", "--workers", "2"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "gate mcp: --workers above 1 serves streamable HTTP only (--transport http)"
    ]


# -- the router alone (no processes) ---------------------------------------------------------------


def _route(peers: Path, scope: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """One request through a worker's router to an app that answers with a session id; what the
    app saw and what the client got."""
    from mcp_server.workers import SessionRouter

    seen: dict[str, Any] = {}
    sent: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"mcp-session-id", b"abc")]}
        )
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    anyio.run(SessionRouter(app, peers).__call__, scope, receive, send)
    return seen, sent


def test_a_client_cannot_claim_another_address_through_the_workers_private_header(
    tmp_path: Path,
) -> None:
    from mcp_server.workers import PEER_HEADER

    spoof = [(PEER_HEADER, b"203.0.113.9:4000")]
    base = {"type": "http", "method": "POST", "path": "/mcp", "query_string": b""}
    tcp = {**base, "headers": spoof, "client": ("198.51.100.7", 5000), "server": ("127.0.0.1", 80)}
    seen, _ = _route(tmp_path, tcp)
    assert seen["client"] == ("198.51.100.7", 5000)  # believed only from a sibling worker
    assert PEER_HEADER not in dict(seen["headers"])
    own_socket = str(tmp_path / f"{os.getpid()}.sock")
    sibling = {**base, "headers": spoof, "client": None, "server": (own_socket, None)}
    seen, _ = _route(tmp_path, sibling)
    assert seen["client"] == ("203.0.113.9", 4000)


def test_session_ids_carry_the_worker_that_holds_them(tmp_path: Path) -> None:
    tag = str(os.getpid()).encode()
    base = {"type": "http", "method": "POST", "path": "/mcp", "query_string": b""}
    base |= {"client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
    seen, sent = _route(tmp_path, {**base, "headers": [(b"mcp-session-id", tag + b"-abc")]})
    assert dict(seen["headers"])[b"mcp-session-id"] == b"abc"  # ours: the SDK's own id
    assert dict(sent[0]["headers"])[b"mcp-session-id"] == tag + b"-abc"  # stamped on the way out
    # A worker that is gone (no socket): served here, where the SDK answers 404 (new session).
    seen, _ = _route(tmp_path, {**base, "headers": [(b"mcp-session-id", b"1-abc")]})
    assert dict(seen["headers"])[b"mcp-session-id"] == b"1-abc"
