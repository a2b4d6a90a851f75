"""The fast path of ``tools/call`` (mcp_server/lean.py) through ``gate mcp``, with the SDK's client.

A 2026-07-28 client calls through the gateway in this process to ``tests/mcp_upstream.py`` over
streamable HTTP; each test checks that the call took the fast path (``lean.call_tool`` counted
around the real function) and that what the client sees is what the SDK's path (``MCP_GATEWAY_LEAN=0``)
and the upstream directly give: results, the upstream's own errors on an unpriced call with prices
set, timeouts, an upstream restarted mid-session, and the pass's charge and budget.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, MCPError

from mcp_server import lean
from mcp_server.toolgate import PASS_META_KEY, tool_rules
from tests.bank_solver import BankSolver
from tests.test_mcp_gateway import (
    UPSTREAM_SCRIPT,
    gate_config,
    http_gateway,
    pay,
    snapshot,
    start_upstream_http,
    stop,
    text,
    upstream_spec,
    wait_for_port,
)
from tests.test_mcp_gateway import (  # fixtures, shared (the first one autouse)
    quiet_client_transport_logs as quiet_client_transport_logs,
)
from tests.test_mcp_gateway import solver as solver
from tests.test_mcp_gateway import upstream_url as upstream_url  # a fixture, shared

MODE = "2026-07-28"
LIMIT = 60
BUDGET_META_KEY = "reasoning-gate/budget-remaining"


@pytest.fixture
def lean_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the tools called over the fast path (the real function, counted)."""
    seen: list[str] = []
    real = lean.call_tool

    async def counted(*args: Any, **kwargs: Any) -> Any:
        seen.append(args[2])
        return await real(*args, **kwargs)

    monkeypatch.setattr(lean, "call_tool", counted)
    yield seen


async def test_calls_take_the_fast_path_and_see_what_they_see_directly(
    upstream_url: str, lean_calls: list[str]
) -> None:
    with anyio.fail_after(LIMIT):
        async with Client(upstream_url, mode=MODE, cache=None) as direct:
            expected = await snapshot(direct)
        async with (
            http_gateway(upstream_spec("url", upstream_url)) as url,
            Client(url, mode=MODE, cache=None) as client,
        ):
            seen = await snapshot(client)
    assert seen == expected
    assert {"echo", "add", "boom", "meta"} <= set(lean_calls)


async def test_the_sdk_path_and_the_fast_path_agree(
    upstream_url: str, lean_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def through_gateway() -> dict[str, Any]:
        async with (
            http_gateway(upstream_spec("url", upstream_url)) as url,
            Client(url, mode=MODE, cache=None) as client,
        ):
            return await snapshot(client)

    with anyio.fail_after(LIMIT):
        fast = await through_gateway()
        assert lean_calls
        monkeypatch.setenv("MCP_GATEWAY_LEAN", "0")
        del lean_calls[:]
        sdk = await through_gateway()
    assert not lean_calls
    assert fast == sdk


async def test_upstream_errors_pass_unchanged_on_an_unpriced_call(
    upstream_url: str, seeded_state: Path, lean_calls: list[str]
) -> None:
    rules = tool_rules({"echo": 1_500})
    with anyio.fail_after(LIMIT):
        async with Client(upstream_url, mode=MODE, cache=None) as direct:
            with pytest.raises(MCPError) as want:
                await direct.call_tool("refuse", {"code": -32001})
        async with (
            http_gateway(
                upstream_spec("url", upstream_url), rules=rules, config=gate_config(seeded_state)
            ) as url,
            Client(url, mode=MODE, cache=None) as client,
        ):
            with pytest.raises(MCPError) as got:
                await client.call_tool("refuse", {"code": -32001})
    assert "refuse" in lean_calls
    assert (got.value.code, got.value.message, got.value.error.data) == (
        want.value.code,
        want.value.message,
        want.value.error.data,
    )


async def test_a_slow_upstream_times_out_as_a_timeout(
    upstream_url: str, lean_calls: list[str]
) -> None:
    spec = upstream_spec("url", upstream_url, timeout=0.5)
    with anyio.fail_after(LIMIT):
        async with http_gateway(spec) as url, Client(url, mode=MODE, cache=None) as client:
            with anyio.fail_after(5):
                result = await client.call_tool("slow", {"seconds": 20})
            after = await client.call_tool("echo", {"text": "still here"})
    assert lean_calls[:2] == ["slow", "echo"]
    assert result.is_error
    assert "did not answer tools/call 'slow' within 0.5s" in text(result)
    assert text(after) == "still here"


def _upstream_on(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(UPSTREAM_SCRIPT), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_an_upstream_restarted_mid_session_is_served_again(lean_calls: list[str]) -> None:
    proc, upstream = start_upstream_http()
    port = int(upstream.split(":")[2].split("/")[0])
    try:
        await wait_for_port(port)
        with anyio.fail_after(LIMIT):
            async with (
                http_gateway(upstream_spec("url", upstream, timeout=10)) as url,
                Client(url, mode=MODE, cache=None) as client,
            ):
                before = await client.call_tool("echo", {"text": "before"})
                stop(proc)
                down = await client.call_tool("echo", {"text": "down"})
                proc = _upstream_on(port)  # same port, new process
                await wait_for_port(port)
                after = await client.call_tool("echo", {"text": "after"})
    finally:
        if proc.poll() is None:
            stop(proc)
    assert text(before) == "before"
    assert down.is_error and "Traceback" not in text(down)
    assert not after.is_error and text(after) == "after"
    assert lean_calls.count("echo") >= 2


async def test_a_pass_is_charged_for_served_calls_only_and_its_budget_rides_the_result(
    upstream_url: str, seeded_state: Path, solver: BankSolver, lean_calls: list[str]
) -> None:
    rules = tool_rules(
        {"echo": 1_500, "boom": 1_500, "refuse": 1_500}, budget=5, scope="mcp:bundle"
    )
    spec = upstream_spec("url", upstream_url)
    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(spec, rules=rules, config=gate_config(seeded_state)) as url,
            Client(url, mode=MODE, cache=None) as client,
        ):
            meta = {PASS_META_KEY: await pay(client, solver)}
            first = await client.call_tool("echo", {"text": "a"}, meta=meta)
            failed = await client.call_tool("boom", {}, meta=meta)
            with pytest.raises(MCPError):
                await client.call_tool("refuse", {"code": -32602}, meta=meta)
            second = await client.call_tool("echo", {"text": "b"}, meta=meta)
    assert {"echo", "boom", "refuse"} <= set(lean_calls)
    assert text(first) == "a" and (first.meta or {})[BUDGET_META_KEY] == 4
    assert failed.is_error and (failed.meta or {})[BUDGET_META_KEY] == 4
    assert text(second) == "b" and (second.meta or {})[BUDGET_META_KEY] == 3


async def test_a_call_with_a_progress_token_takes_the_sdk_path(
    upstream_url: str, lean_calls: list[str]
) -> None:
    progress: list[float] = []

    async def on_progress(value: float, _total: float | None, _message: str | None) -> None:
        progress.append(value)

    with anyio.fail_after(LIMIT):
        async with (
            http_gateway(upstream_spec("url", upstream_url)) as url,
            Client(url, mode=MODE, cache=None) as client,
        ):
            result = await client.call_tool(
                "shout", {"text": "hey", "seconds": 0.0}, progress_callback=on_progress
            )
    assert isinstance(result, types.CallToolResult) and not result.is_error
    assert "shout" not in lean_calls
