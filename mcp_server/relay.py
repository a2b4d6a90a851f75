"""What one upstream session sends on its own, carried on to the client it belongs to.

Each handshake-era client session of the gateway has an upstream session of its own
(``links.py``), so whatever that upstream session sends belongs to that client: its requests
(sampling, elicitation, roots) and log messages go to the client's call in flight when there is
exactly one (on that request's own stream, as the upstream sent them), else on the client's
standalone channel; its list-changed, resource-updated and task-status notifications go to the
client's standalone channel.

A shared upstream session (2026-07-28 clients, by capability set; every client of a stdio
upstream, which is one process) serves several clients, so a request it makes can only belong to
a call in flight on it: it goes to that call's client when exactly one call is in flight and that
client is a handshake-era one that declared the capability; otherwise the upstream gets an error,
never another client's answer.  Log messages follow the same rule (dropped when no single call
owns them).  Its change notifications are published as listen events (``listen.py``), and go to
the handshake-era clients that use it: list changes to all, resource updates to those that
subscribed to the resource.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator
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
from mcp.shared.subscriptions import event_to_notification
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
    shared session, whose change notifications also go to ``bus`` (when given).
    """

    def __init__(self, client: Connection | None = None, bus: SubscriptionBus | None = None):
        self.client = client
        self.bus = bus
        self._calls: dict[int, Ctx] = {}  # downstream requests in flight on it, by id()
        # A shared session's handshake-era clients, and by resource URI those that subscribed.
        self._sessions: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._subscribed: dict[str, weakref.WeakSet[Connection]] = {}
        self.on_session: Callable[[], None] | None = None  # a first handshake-era client came

    @contextmanager
    def serving(self, ctx: Ctx) -> Iterator[None]:
        """Mark ``ctx``'s request as in flight on this session while it is forwarded."""
        if self.client is None and not modern(ctx) and (found := connection_of(ctx)) is not None:
            if not self._sessions and self.on_session is not None:
                self.on_session()
            self._sessions.add(found)
        self._calls[id(ctx)] = ctx
        try:
            yield
        finally:
            self._calls.pop(id(ctx), None)

    def subscribed(self, ctx: Ctx, uri: str, *, on: bool) -> None:
        """A client (un)subscribed ``uri`` through a shared session: where its updates go."""
        if self.client is None and (found := connection_of(ctx)) is not None:
            targets = self._subscribed.setdefault(uri, weakref.WeakSet())
            if on:
                targets.add(found)
            else:
                targets.discard(found)

    def _only_call(self) -> Ctx | None:
        if len(self._calls) != 1:
            return None
        (ctx,) = self._calls.values()
        return ctx

    async def _ask(self, capability: str, request: Any, result_type: type[Any]) -> Any:
        ctx = self._only_call()
        owner = self.client or (connection_of(ctx) if ctx is not None and not modern(ctx) else None)
        caps = owner.client_capabilities if owner is not None else None
        if owner is None or getattr(caps, capability, None) is None:
            return types.ErrorData(
                code=types.INVALID_REQUEST,
                message=f"the gateway's client cannot answer {request.method} for this call",
            )
        try:
            if ctx is not None:
                return await ctx.session.send_request(
                    request,
                    result_type,
                    metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
                )
            return await owner.send_request(request, result_type=result_type)
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
                await self.client.notify(*_wire(notice))
        except Exception as exc:  # the client went away meanwhile
            log.debug("log message not relayed: %s", exc)

    async def messages(self, message: Any) -> None:
        if isinstance(message, Exception):
            return
        if not isinstance(message, _FORWARDED):
            return
        if self.client is not None:
            await self.client.notify(*_wire(message))  # never raises
            return
        if self.bus is not None and (event := event_of(message)) is not None:
            await self.bus.publish(event)
        if isinstance(message, types.ResourceUpdatedNotification):
            targets = list(self._subscribed.get(str(message.params.uri), ()))
        elif isinstance(message, types.TaskStatusNotification | types.ElicitCompleteNotification):
            return  # whose, a shared session cannot tell
        else:
            targets = list(self._sessions)
        for connection in targets:  # each one's standalone channel (streamable HTTP: its GET)
            await connection.notify(*_wire(message))

    async def announce(self, event: ServerEvent) -> None:
        """An event of a 2026-07-28 upstream's listen stream, for the handshake-era clients of
        this shared session (as the notification they know)."""
        if isinstance(event, ResourceUpdated):
            targets = list(self._subscribed.get(event.uri, ()))
        else:
            targets = list(self._sessions)
        for connection in targets:
            await connection.notify(*_wire(event_to_notification(event, {})))


def _wire(notification: Any) -> tuple[str, Any]:
    data = notification.model_dump(by_alias=True, mode="json", exclude_none=True)
    return data["method"], data.get("params")
