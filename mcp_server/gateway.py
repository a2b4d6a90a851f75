"""``gate mcp``: a gateway that fronts an existing MCP server and re-exposes it unchanged.

The front is a low-level ``mcp.server.lowlevel.Server`` offering what the upstream offers: tools,
resources and templates, subscriptions, prompts, completions, logging levels, and
``subscriptions/listen`` for 2026-07-28 clients.  Its handlers forward each request to the
upstream session that serves the client (``links.py``, ``forward.py``, ``tool_calls.py``); what
the upstream sends on its own travels back through ``relay.py`` and ``listen.py``.  The gate itself
(prices, ``gate_challenge`` / ``gate_solve``) is a ``ToolGate`` middleware installed on that
server.  Serving it on stdio or streamable HTTP is ``front.py``'s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp import MCPError
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.subscriptions import InMemorySubscriptionBus

from mcp_server.forward import Forwarder, speaks_modern
from mcp_server.links import Links, callbacks
from mcp_server.listen import ListenRelay
from mcp_server.relay import Relay
from mcp_server.tool_calls import ToolCalls
from mcp_server.upstream import GatewayError, UpstreamError, UpstreamLink, UpstreamSpec, describe

if TYPE_CHECKING:
    from gate.config import GateConfig
    from gate.rules import Rule

__all__ = ["GatewayError", "UpstreamError", "UpstreamSpec", "build_gateway", "open_gateway"]


class _Front(Server[Any]):
    """The front server, announcing the upstream's list-changed notifications on handshake-era
    connections (the 2026 derivation ignores these options)."""

    notifications = NotificationOptions()

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> Any:
        return super().create_initialization_options(
            notification_options or self.notifications, experimental_capabilities, extensions
        )


def build_gateway(
    links: Links, bus: InMemorySubscriptionBus, *, name: str = "reasoning-gate"
) -> tuple[Server[Any], Forwarder]:
    """The front server for a connected upstream: the upstream's capabilities, forwarded."""
    forward = Forwarder(links)
    calls = ToolCalls(forward)
    listen = ListenRelay(links, bus)
    client = links.first.current
    caps = client.server_capabilities if client is not None else None
    # Offer what the upstream offers (a pinned or unknown capability set means: offer it all);
    # tools always, since the gate serves its own tools next to the upstream's.
    known = caps is not None and any((caps.tools, caps.resources, caps.prompts, caps.completions))

    def has(capability: str) -> bool:
        return not known or getattr(caps, capability, None) is not None

    resources = caps.resources if known and caps is not None else None
    subscribe = not known or bool(resources is not None and resources.subscribe)
    info = client.server_info if client is not None else None
    server = _Front(
        name,
        version=info.version if info is not None else "",
        instructions=client.instructions if client is not None else None,
        get_tool_input_schema=forward.tool_input_schema,
        on_list_tools=forward.list_tools,
        on_call_tool=calls.call_tool,
        on_list_resources=forward.list_resources if has("resources") else None,
        on_list_resource_templates=forward.list_resource_templates if has("resources") else None,
        on_read_resource=forward.read_resource if has("resources") else None,
        on_subscribe_resource=forward.subscribe if has("resources") and subscribe else None,
        on_unsubscribe_resource=forward.unsubscribe if has("resources") and subscribe else None,
        on_list_prompts=forward.list_prompts if has("prompts") else None,
        on_get_prompt=forward.get_prompt if has("prompts") else None,
        on_completion=forward.complete if has("completions") else None,
        on_subscriptions_listen=listen,
    )
    # Handshake-era clients of a stdio upstream share its one session; when that speaks
    # 2026-07-28, where a level rides on each request, the gateway keeps theirs (forward.py).
    shared_modern = links.first.spec.kind == "command" and speaks_modern(links.first)
    if (known and caps is not None and caps.logging is not None) or shared_modern:
        # The handshake-era logging/setLevel, as the upstream offers it (deprecated in 2026,
        # hence registered by hand rather than through the warning constructor argument).
        server.add_request_handler(
            "logging/setLevel", types.SetLevelRequestParams, forward.set_level
        )
    server.notifications = NotificationOptions(
        prompts_changed=bool(caps and caps.prompts and caps.prompts.list_changed),
        resources_changed=bool(resources is not None and resources.list_changed),
        tools_changed=bool(caps and caps.tools and caps.tools.list_changed),
    )
    return server, forward


@asynccontextmanager
async def open_gateway(
    upstream: UpstreamSpec,
    *,
    rules: Mapping[str, Rule] | None = None,
    config: GateConfig | None = None,
    allow_unlisted: bool = False,
) -> AsyncIterator[Server[Any]]:
    """Connect to the upstream and yield the front server, with the gate installed when
    ``rules`` price any tool.  A priced name the upstream does not list stops start-up unless
    ``allow_unlisted`` (the tool may appear later).  Raises ``GatewayError`` (``UpstreamError``
    when the upstream cannot be reached)."""
    bus = InMemorySubscriptionBus()
    relay = Relay(client=None, bus=bus)
    async with UpstreamLink.connect(upstream, callbacks(relay)) as link:
        server, forward = build_gateway(Links(link, relay), bus)
        if not rules:
            yield server
            return
        if not allow_unlisted:
            listed = await _listed_tools(forward)
            missing = sorted(set(rules) - set(listed))
            if missing:
                raise GatewayError(
                    f"--price names {', '.join(map(repr, missing))}, which {upstream.label} does"
                    f" not list (its tools: {', '.join(listed) or 'none'}); fix the name, or pass"
                    " --allow-unlisted-price for a tool that appears later"
                )
        from mcp_server.toolgate import ToolGate

        gate = ToolGate(dict(rules), config=config)
        try:  # start the gate's runtime now: a bad store or bank must stop start-up, not a call
            await gate.gatekeeper()
        except Exception as exc:
            await gate.aclose()
            raise GatewayError(f"cannot start the gate: {describe(exc)}") from None
        gate.install(server, output_schemas=forward.output_schemas)
        try:
            yield server
        finally:
            # Shielded: the gateway usually ends by cancellation, and an interrupted close
            # would leave the bank's connection (and its worker thread) open.
            with anyio.move_on_after(10, shield=True):
                await gate.aclose()


async def _listed_tools(forward: Forwarder) -> list[str]:
    try:
        return await forward.tool_names()
    except MCPError as exc:
        raise GatewayError(
            f"cannot list the tools of {forward.spec.label}: {exc.message}"
        ) from None
