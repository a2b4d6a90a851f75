"""What the upstream sends the gateway on its own, carried on to the gateway's clients.

The gateway holds one upstream session for all its clients, so a request the upstream makes
(sampling, elicitation, roots) can only belong to a client call in flight.  It goes to that
client when exactly one call is in flight and that client declared the capability; otherwise the
upstream gets an error, never another client's answer.  Log messages follow the same rule
(dropped when no single call owns them).  List-changed notifications go to every client session
that can receive them (handshake-era sessions; 2026-07-28 clients re-list instead), resource
updates to the sessions that subscribed to the resource.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import mcp_types as types
from mcp import MCPError
from mcp.server.context import ServerRequestContext
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import is_version_at_least

log = logging.getLogger(__name__)

Ctx = ServerRequestContext[Any]
_LIST_CHANGED = (
    types.ToolListChangedNotification,
    types.ResourceListChangedNotification,
    types.PromptListChangedNotification,
)


def modern(ctx: Ctx) -> bool:
    version = ctx.protocol_version
    return bool(version) and is_version_at_least(version, "2026-07-28")


class Relay:
    def __init__(self) -> None:
        self._calls: dict[int, Ctx] = {}  # downstream requests in flight, by id()
        # Handshake-era client connections seen, and by resource URI those that subscribed.
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()
        self._subscribed: dict[str, weakref.WeakSet[Any]] = {}

    @contextmanager
    def serving(self, ctx: Ctx) -> Iterator[None]:
        """Mark ``ctx``'s request as in flight while it is forwarded."""
        if not modern(ctx) and (connection := _connection(ctx)) is not None:
            self._sessions.add(connection)
        self._calls[id(ctx)] = ctx
        try:
            yield
        finally:
            self._calls.pop(id(ctx), None)

    def subscribe(self, ctx: Ctx, uri: str) -> None:
        if (connection := _connection(ctx)) is not None:
            self._subscribed.setdefault(uri, weakref.WeakSet()).add(connection)

    def unsubscribe(self, ctx: Ctx, uri: str) -> None:
        if (connection := _connection(ctx)) is not None:
            self._subscribed.get(uri, weakref.WeakSet()).discard(connection)

    def _owner(self, capability: str) -> Ctx | None:
        if len(self._calls) != 1:
            return None
        (ctx,) = self._calls.values()
        caps = getattr(ctx.session, "client_capabilities", None)
        if modern(ctx) or getattr(caps, capability, None) is None:
            return None
        return ctx

    async def _ask(self, capability: str, request: Any, result_type: type[Any]) -> Any:
        ctx = self._owner(capability)
        if ctx is None:
            return types.ErrorData(
                code=types.INVALID_REQUEST,
                message=f"the gateway's client cannot answer {request.method} for this call",
            )
        try:
            return await ctx.session.send_request(
                request,
                result_type,
                metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
            )
        except MCPError as exc:
            return exc.error

    # -- the upstream client's callbacks (mcp.Client) -------------------------------------------

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
        if len(self._calls) != 1:
            return
        (ctx,) = self._calls.values()
        try:
            await ctx.session.send_notification(
                types.LoggingMessageNotification(params=params), ctx.request_id
            )
        except Exception as exc:  # the client went away meanwhile
            log.debug("log message not relayed: %s", exc)

    async def messages(self, message: Any) -> None:
        if isinstance(message, Exception):
            return
        if isinstance(message, _LIST_CHANGED):
            targets = list(self._sessions)
        elif isinstance(message, types.ResourceUpdatedNotification):
            targets = list(self._subscribed.get(str(message.params.uri), ()))
        else:
            return
        data = message.model_dump(by_alias=True, mode="json", exclude_none=True)
        for connection in targets:
            try:  # the connection's standalone channel (the GET stream on streamable HTTP)
                await connection.outbound.notify(data["method"], data.get("params"))
            except Exception:  # a closed session: forget it
                self._sessions.discard(connection)


def _connection(ctx: Ctx) -> Any:
    """The client connection behind ``ctx``: it outlives the request (``ctx.session`` is made
    per request), so notifications the upstream sends later can still reach it.  The SDK has no
    public accessor for it."""
    return getattr(ctx.session, "_connection", None)
