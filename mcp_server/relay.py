"""What one upstream session sends on its own, carried on to the client it belongs to.

Each handshake-era client session of the gateway has an upstream session of its own
(``links.py``), so whatever that upstream session sends belongs to that client: its requests
(sampling, elicitation, roots) and log messages go to the client's call in flight when there is
exactly one (on that request's own stream, as the upstream sent them), else on the client's
standalone channel; its list-changed, resource-updated and task-status notifications go to the
client's standalone channel.

2026-07-28 clients have no session and cannot be asked anything mid-call; they share upstream
sessions by capability set.  What such a session sends is published as listen events
(``listen.py``); its requests are refused (the upstream gets an error, never another client's
answer); a log message reaches the only call in flight on it, if one is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import mcp_types as types
from mcp import MCPError
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    SubscriptionBus,
    ToolsListChanged,
)
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import is_version_at_least

log = logging.getLogger(__name__)

Ctx = ServerRequestContext[Any]

# Notifications an upstream session sends on its own that a handshake-era client can take as
# they are (progress and log messages have their own routes; cancellations are the SDK's).
_FORWARDED = (
    types.ToolListChangedNotification,
    types.ResourceListChangedNotification,
    types.PromptListChangedNotification,
    types.ResourceUpdatedNotification,
    types.TaskStatusNotification,
    types.ElicitCompleteNotification,
)


def modern(ctx: Ctx) -> bool:
    version = ctx.protocol_version
    return bool(version) and is_version_at_least(version, "2026-07-28")


def connection_of(ctx: Ctx) -> Connection | None:
    """The client connection behind ``ctx``: it outlives the request (``ctx.session`` is made per
    request), so what the upstream sends later can still reach it.  The SDK has no public
    accessor for it on a low-level handler's context."""
    found = getattr(ctx.session, "_connection", None)
    return found if isinstance(found, Connection) else None


def event_of(message: Any) -> ServerEvent | None:
    """The listen event a handshake-era upstream notification announces."""
    if isinstance(message, types.ToolListChangedNotification):
        return ToolsListChanged()
    if isinstance(message, types.PromptListChangedNotification):
        return PromptsListChanged()
    if isinstance(message, types.ResourceListChangedNotification):
        return ResourcesListChanged()
    if isinstance(message, types.ResourceUpdatedNotification):
        return ResourceUpdated(uri=str(message.params.uri))
    return None


class Relay:
    """The callbacks of one upstream session (``mcp.Client``'s), and the calls it serves now.

    ``client`` is the handshake-era client connection the session belongs to; ``None`` for a
    session shared by 2026-07-28 clients, whose change notifications go to ``bus``.
    """

    def __init__(self, client: Connection | None = None, bus: SubscriptionBus | None = None):
        self.client = client
        self.bus = bus
        self._calls: dict[int, Ctx] = {}  # downstream requests in flight on it, by id()

    @contextmanager
    def serving(self, ctx: Ctx) -> Iterator[None]:
        """Mark ``ctx``'s request as in flight on this session while it is forwarded."""
        self._calls[id(ctx)] = ctx
        try:
            yield
        finally:
            self._calls.pop(id(ctx), None)

    def _only_call(self) -> Ctx | None:
        if len(self._calls) != 1:
            return None
        (ctx,) = self._calls.values()
        return ctx

    async def _ask(self, capability: str, request: Any, result_type: type[Any]) -> Any:
        caps = self.client.client_capabilities if self.client is not None else None
        if self.client is None or getattr(caps, capability, None) is None:
            return types.ErrorData(
                code=types.INVALID_REQUEST,
                message=f"the gateway's client cannot answer {request.method} now",
            )
        try:
            if (ctx := self._only_call()) is not None:
                return await ctx.session.send_request(
                    request,
                    result_type,
                    metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
                )
            return await self.client.send_request(request, result_type=result_type)
        except MCPError as exc:  # the client's own error, or no channel to it
            return exc.error

    # -- mcp.Client's callbacks ------------------------------------------------------------------

    async def sampling(self, _context: Any, params: types.CreateMessageRequestParams) -> Any:
        return await self._ask(
            "sampling", types.CreateMessageRequest(params=params), types.CreateMessageResult
        )

    async def elicitation(self, _context: Any, params: types.ElicitRequestParams) -> Any:
        return await self._ask(
            "elicitation", types.ElicitRequest(params=params), types.ElicitResult
        )

    async def roots(self, _context: Any) -> Any:
        return await self._ask("roots", types.ListRootsRequest(), types.ListRootsResult)

    async def logging(self, params: types.LoggingMessageNotificationParams) -> None:
        notice = types.LoggingMessageNotification(params=params)
        try:
            if (ctx := self._only_call()) is not None:
                await ctx.session.send_notification(notice, ctx.request_id)
            elif self.client is not None:
                await self._notify(notice)
        except Exception as exc:  # the client went away meanwhile
            log.debug("log message not relayed: %s", exc)

    async def messages(self, message: Any) -> None:
        if isinstance(message, Exception):
            return
        if self.client is not None:
            if isinstance(message, _FORWARDED):
                await self._notify(message)
        elif self.bus is not None and (event := event_of(message)) is not None:
            await self.bus.publish(event)

    async def _notify(self, notification: Any) -> None:
        assert self.client is not None
        data = notification.model_dump(by_alias=True, mode="json", exclude_none=True)
        await self.client.notify(data["method"], data.get("params"))  # never raises
