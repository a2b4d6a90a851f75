"""``gate mcp`` relays what the upstream sends on its own to the client it belongs to.

The SDK's real clients over real transports (streamable HTTP and a stdio front), against
``tests/mcp_upstream.py`` (a Python ``MCPServer``, both protocol generations).  Several clients at once, so that
a request, log message or notification reaching the wrong client would show.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.subscriptions import ResourceUpdated, ToolsListChanged

from mcp_server.gateway import UpstreamSpec
from tests.test_mcp_gateway import (
    UPSTREAM_COMMAND,
    http_gateway,
    quiet_client_transport_logs,
    stdio_gateway,
    text,
    upstream_url,
)

__all__ = ["quiet_client_transport_logs", "upstream_url"]  # fixtures

LIMIT = 60
KINDS = ("command", "url")


@asynccontextmanager
async def front(kind: str, upstream_url: str) -> AsyncIterator[str]:
    spec = (
        UpstreamSpec(UPSTREAM_COMMAND, "command", 15)
        if kind == "command"
        else UpstreamSpec(upstream_url, "url", 15)
    )
    async with http_gateway(spec) as url:
        yield url


# An HTTP upstream gives each handshake-era client a session of its own; a stdio upstream (one
# process, shared by all clients) can only be routed by the one call in flight (docs/mcp.md).
async def test_concurrent_clients_each_answer_their_own_upstream_question(
    upstream_url: str,
) -> None:
    """Two handshake-era clients call a tool that asks its caller's name, at the same time: each
    question reaches the client whose call asked it (both are in flight when they are asked)."""
    kind = "url"
    asked: dict[str, anyio.Event] = {"Ada": anyio.Event(), "Bob": anyio.Event()}

    def answering(name: str) -> Any:
        async def elicit(_ctx: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
            asked[name].set()
            for event in asked.values():  # answer only once both calls were asked
                await event.wait()
            return types.ElicitResult(action="accept", content={"name": name})

        return elicit

    results: dict[str, str] = {}

    async def call(url: str, name: str) -> None:
        async with Client(
            url, mode="legacy", cache=None, elicitation_callback=answering(name)
        ) as client:
            results[name] = text(await client.call_tool("ask_name", {}))

    with anyio.fail_after(LIMIT):
        async with front(kind, upstream_url) as url, anyio.create_task_group() as group:
            for name in asked:
                group.start_soon(call, url, name)
    assert results == {"Ada": "Hello Ada", "Bob": "Hello Bob"}


async def test_log_messages_reach_the_client_whose_call_logged(upstream_url: str) -> None:
    kind = "url"
    logs: dict[str, list[Any]] = {"a": [], "b": []}

    def collect(name: str) -> Any:
        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            logs[name].append((params.level, params.logger, params.data))

        return on_log

    async def call(url: str, name: str) -> None:
        async with Client(url, mode="legacy", cache=None, logging_callback=collect(name)) as c:
            await c.call_tool("shout", {"text": f"from {name}", "seconds": 0.5})

    with anyio.fail_after(LIMIT):
        async with front(kind, upstream_url) as url, anyio.create_task_group() as group:
            for name in logs:
                group.start_soon(call, url, name)
    assert logs == {"a": [("info", "shout", "from a")], "b": [("info", "shout", "from b")]}


# The client's setLevel is deprecated as of 2026-07-28, and that is what the test sends.
@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_a_handshake_era_clients_log_level_holds_on_a_shared_2026_upstream_session(
    upstream_url: str,
) -> None:
    """A stdio upstream's one session speaks 2026-07-28, which has no logging/setLevel: the
    gateway keeps each client's level and asks for it on that client's calls only."""
    logs: dict[str, list[Any]] = {"quiet": [], "chatty": []}

    def collect(name: str) -> Any:
        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            logs[name].append((params.level, params.data))

        return on_log

    with anyio.fail_after(LIMIT):
        async with (
            front("command", upstream_url) as url,
            Client(url, mode="legacy", cache=None, logging_callback=collect("quiet")) as quiet,
            Client(url, mode="legacy", cache=None, logging_callback=collect("chatty")) as chatty,
        ):
            await quiet.session.set_logging_level("warning")
            await quiet.call_tool("shout", {"text": "an info line"})
            await chatty.call_tool("shout", {"text": "heard"})
            await quiet.session.set_logging_level("info")
            await quiet.call_tool("shout", {"text": "heard now"})
    assert logs == {"quiet": [("info", "heard now")], "chatty": [("info", "heard")]}


async def test_the_stdio_front_relays_log_messages_and_list_changes(
    upstream_url: str, tmp_path: Path
) -> None:
    logs: list[Any] = []
    changed = anyio.Event()

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data)

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    with anyio.fail_after(LIMIT):
        async with Client(
            stdio_gateway("command", upstream_url, tmp_path),
            mode="legacy",
            cache=None,
            logging_callback=on_log,
            message_handler=on_message,
        ) as client:
            await client.call_tool("shout", {"text": "over stdio"})
            await client.call_tool("grow", {"name": "sprout"})
            with anyio.fail_after(10):
                await changed.wait()
            names = {tool.name for tool in (await client.list_tools()).tools}
    assert logs == ["over stdio"]
    assert "sprout" in names


@pytest.mark.parametrize("kind", KINDS)
async def test_list_changes_and_resource_updates_reach_a_handshake_era_client(
    kind: str, upstream_url: str
) -> None:
    seen: set[str] = set()
    both = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            seen.add("tools")
        elif isinstance(message, types.ResourceUpdatedNotification):
            seen.add(str(message.params.uri))
        if len(seen) == 2:
            both.set()

    with anyio.fail_after(LIMIT):
        async with (
            front(kind, upstream_url) as url,
            Client(url, mode="legacy", cache=None, message_handler=on_message) as client,
        ):
            if kind == "command":  # (this upstream's handshake-era side sends updates unasked)
                await client.session.send_request(
                    types.SubscribeRequest(params=types.SubscribeRequestParams(uri="res://readme")),
                    types.EmptyResult,
                )
            await client.call_tool("grow", {"name": f"leaf_{kind}"})
            await client.call_tool("touch", {"uri": "res://readme"})
            with anyio.fail_after(10):
                await both.wait()
            names = {tool.name for tool in (await client.list_tools()).tools}
    assert seen == {"res://readme", "tools"}
    assert f"leaf_{kind}" in names


@pytest.mark.parametrize("kind", KINDS)
async def test_listen_streams_of_2026_clients_get_list_changes_and_resource_updates(
    kind: str, upstream_url: str
) -> None:
    """A 2026-07-28 client listens (``subscriptions/listen``) through the gateway; another
    client's calls change the upstream; the listener hears of it, for what it asked only."""
    events: list[Any] = []

    async def listen(url: str, ready: anyio.Event, done: anyio.Event) -> None:
        async with (
            Client(url, cache=None) as listener,
            listener.listen(
                tools_list_changed=True, resource_subscriptions=["res://readme"]
            ) as subscription,
        ):
            ready.set()
            async for event in subscription:
                events.append(event)
                if ToolsListChanged() in events and ResourceUpdated(uri="res://readme") in events:
                    done.set()
                    return

    with anyio.fail_after(LIMIT):
        async with front(kind, upstream_url) as url, Client(url, cache=None) as actor:
            ready, done = anyio.Event(), anyio.Event()
            async with anyio.create_task_group() as group:
                group.start_soon(listen, url, ready, done)
                await ready.wait()
                await anyio.sleep(0.5)  # the gateway's own upstream listen is open by now
                await actor.call_tool("touch", {"uri": "res://other"})  # not asked for
                await actor.call_tool("grow", {"name": f"twig_{kind}"})
                await actor.call_tool("touch", {"uri": "res://readme"})
                with anyio.fail_after(15):
                    await done.wait()
    assert ToolsListChanged() in events and ResourceUpdated(uri="res://readme") in events
    assert ResourceUpdated(uri="res://other") not in events
