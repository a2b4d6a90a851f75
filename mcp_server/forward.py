"""The gateway's forwarding: each request of a client, sent on to the upstream session serving it.

Which upstream session serves a request is ``links.py``'s choice; this module sends the request,
bounded in time, and turns what can go wrong on the way into one clear error: an upstream that
does not answer, cannot be reached, or forgot the session (it restarted: a new session, and the
request once more).  The upstream's own answers, errors included, pass through unchanged, less
the keys that are the gateway's own (``clean_meta``, ``clean_result``).  Tool calls, which have
more to them, are ``tool_calls.py``'s.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp import Client, MCPError
from mcp.server.connection import Connection as ClientConnection
from mcp_types.version import is_version_at_least

from mcp_server.links import Links
from mcp_server.relay import Ctx, connection_of
from mcp_server.toolgate.names import ERROR_META_KEY, PASS_META_KEY
from mcp_server.upstream import Connection, UpstreamError, UpstreamLink, describe

log = logging.getLogger(__name__)

_T = TypeVar("_T")

RESERVED_META_PREFIX = "io.modelcontextprotocol/"
# progressToken names a stream of the downstream's: the upstream gets one of the link's own,
# and its progress is relayed under the downstream's token.
# (The SDK parses it into the key ``progress_token``; the wire spells it ``progressToken``.)
_PROGRESS_KEYS = ("progressToken", "progress_token")
# The pass is the client's credential for this gateway: it never reaches the upstream.
_PRIVATE_META_KEYS = frozenset({PASS_META_KEY, *_PROGRESS_KEYS})
# A 2026-07-28 client's opt-in to log messages of its request: the upstream's to honour.
LOG_LEVEL_META_KEY = "io.modelcontextprotocol/logLevel"
UPSTREAM_ERROR = "UPSTREAM_ERROR"


def clean_meta(meta: Mapping[str, Any] | None) -> types.RequestParamsMeta | None:
    """The downstream's ``_meta`` without the protocol's reserved keys and the gate's own."""
    if not meta:
        return None
    kept = {
        key: value
        for key, value in meta.items()
        if (key == LOG_LEVEL_META_KEY or not key.startswith(RESERVED_META_PREFIX))
        and key not in _PRIVATE_META_KEYS
    }
    return types.RequestParamsMeta(**kept) if kept else None  # type: ignore[typeddict-item]


def progress_token(meta: Mapping[str, Any] | None) -> Any:
    for key in _PROGRESS_KEYS:
        if meta and meta.get(key) is not None:
            return meta[key]
    return None


_R = TypeVar("_R", bound=types.Result)


def clean_result(result: _R) -> _R:
    """Drop the upstream's reserved result ``_meta`` (its server identity stamp, for one)."""
    meta = result.meta
    if meta and any(key.startswith(RESERVED_META_PREFIX) for key in meta):
        kept = {k: v for k, v in meta.items() if not k.startswith(RESERVED_META_PREFIX)}
        return result.model_copy(update={"meta": kept or None})
    return result


def error_result(text: str, *, structured: bool = True, **payload: Any) -> types.CallToolResult:
    """An error result of the gateway's; its payload also rides in ``_meta`` so that it can be
    left out of ``structuredContent`` for a tool whose output schema it would not match."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=payload if structured and payload else None,
        is_error=True,
        _meta={ERROR_META_KEY: payload} if payload else None,
    )


_P = TypeVar("_P", bound=types.RequestParams)


def _cleaned(params: _P) -> _P:
    return params.model_copy(update={"meta": clean_meta(params.meta)})


def _paginated(params: types.PaginatedRequestParams | None) -> types.PaginatedRequestParams | None:
    if params is None:
        return None
    return types.PaginatedRequestParams(cursor=params.cursor, _meta=clean_meta(params.meta))


def speaks_modern(link: UpstreamLink) -> bool:
    """Whether ``link``'s upstream session speaks 2026-07-28 (no ``logging/setLevel`` there: a
    request asks for its log messages in its own ``_meta``)."""
    client = link.current
    return client is not None and is_version_at_least(client.protocol_version, "2026-07-28")


def _input_rounds(
    params: types.ReadResourceRequestParams | types.GetPromptRequestParams,
) -> dict[str, Any]:
    """The keywords of a relayed request that may ask for input (2026-07-28): the client's
    answers and state go on as they came, its ``_meta`` cleaned, and an ``InputRequiredResult``
    comes back to the client as it is."""
    return {
        "input_responses": params.input_responses,
        "request_state": params.request_state,
        "meta": clean_meta(params.meta),
        "allow_input_required": True,
    }


class Forwarder:
    """The front server's handlers: each forwards one request to the upstream, bounded in time."""

    def __init__(self, links: Links) -> None:
        self.links = links
        self.spec = links.first.spec
        # Schemas from the latest tools/list: the front checks Mcp-Param headers against the
        # input schemas without asking the upstream for its whole listing on every call, and
        # leaves structuredContent out of its errors for tools that declare an output schema.
        self.input_schemas: dict[str, dict[str, Any]] = {}
        self.declares_output: dict[str, bool] = {}
        # logging/setLevel of handshake-era clients whose upstream session speaks 2026-07-28:
        # kept here, and asked for in the _meta of each of their calls instead.
        self._levels: weakref.WeakKeyDictionary[ClientConnection, str] = weakref.WeakKeyDictionary()

    def tool_input_schema(self, name: str) -> dict[str, Any] | None:
        # None (not yet listed) skips the front's check only; the upstream still checks.
        return self.input_schemas.get(name)

    async def output_schemas(self) -> Mapping[str, bool]:
        """Which upstream tools declare an output schema (the whole listing, fetched once)."""
        if not self.declares_output:
            await self.tool_names()
        return self.declares_output

    async def tool_names(self) -> list[str]:
        """Every tool the upstream lists, all pages."""
        names: list[str] = []
        cursor: str | None = None
        while True:
            page = types.PaginatedRequestParams(cursor=cursor) if cursor else None

            async def listing(
                up: Client, page: types.PaginatedRequestParams | None = page
            ) -> types.ListToolsResult:
                return await up.session.list_tools(params=page)

            result = await self._rpc(self.links.first, "tools/list", listing)
            self._learn(result)
            names += [tool.name for tool in result.tools]
            cursor = result.next_cursor
            if not cursor:
                return names

    def _learn(self, result: types.ListToolsResult) -> None:
        for tool in result.tools:
            self.input_schemas[tool.name] = tool.input_schema
            self.declares_output[tool.name] = tool.output_schema is not None

    async def call(
        self, link: UpstreamLink, what: str, send: Callable[[Client], Awaitable[_T]]
    ) -> _T:
        """Run ``send`` on the upstream; transport failures become one-line ``UpstreamError``s.

        Errors the upstream itself answered with (unknown resource, invalid params, its own
        -32001...) pass through unchanged as ``MCPError``.  A session the upstream no longer
        knows (it restarted) is replaced and the request sent once more: the upstream refused
        it without running it.
        """
        for attempt in (1, 2):
            connection = await link.connection()  # UpstreamError when it cannot be opened
            try:
                return await self._send(link, what, connection, send)
            except MCPError:
                if connection.session_lost and attempt == 1:
                    log.info("%s: session gone (restarted?); opening a new one", self.spec.label)
                    link.mark_dead(connection)
                    continue
                raise
        raise AssertionError("unreachable")

    async def _send(
        self,
        link: UpstreamLink,
        what: str,
        connection: Connection,
        send: Callable[[Client], Awaitable[_T]],
    ) -> _T:
        client = connection.client
        assert client is not None
        timeout = f"{self.spec.label} did not answer {what} within {self.spec.timeout:g}s"
        try:
            with anyio.fail_after(self.spec.timeout):
                return await send(client)
        except TimeoutError:
            raise UpstreamError(timeout) from None
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                link.mark_dead(connection)
                raise UpstreamError(f"{self.spec.label} closed the connection ({what})") from None
            if connection.session_lost:
                raise
            raise MCPError(exc.code, self.spec.scrub(exc.message), exc.error.data) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
            link.mark_dead(connection)
            raise UpstreamError(
                f"{self.spec.label} is unreachable: {self.spec.scrub(describe(exc))}"
            ) from None
        except Exception as exc:  # a malformed answer: report it, never a traceback
            log.debug("upstream %s failed: %s", what, type(exc).__name__)
            raise UpstreamError(
                f"{self.spec.label} failed on {what}: {self.spec.scrub(describe(exc))}"
            ) from None

    async def _rpc(
        self, link: UpstreamLink, what: str, send: Callable[[Client], Awaitable[_R]]
    ) -> _R:
        """``call`` for methods whose errors travel as JSON-RPC errors."""
        try:
            return clean_result(await self.call(link, what, send))
        except UpstreamError as exc:
            raise MCPError(types.INTERNAL_ERROR, str(exc)) from None

    async def _forward(self, ctx: Ctx, what: str, send: Callable[[Client], Awaitable[_R]]) -> _R:
        link, relay = self.links.for_request(ctx)
        with relay.serving(ctx):
            return await self._rpc(link, what, send)

    # -- tools ---------------------------------------------------------------------------------

    async def list_tools(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        result = await self._forward(
            ctx, "tools/list", lambda up: up.session.list_tools(params=_paginated(params))
        )
        self._learn(result)
        return result

    # -- resources -----------------------------------------------------------------------------

    async def list_resources(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await self._forward(
            ctx, "resources/list", lambda up: up.session.list_resources(params=_paginated(params))
        )

    async def list_resource_templates(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return await self._forward(
            ctx,
            "resources/templates/list",
            lambda up: up.session.list_resource_templates(params=_paginated(params)),
        )

    async def read_resource(
        self, ctx: Ctx, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult | types.InputRequiredResult:
        return await self._forward(
            ctx,
            f"resources/read {params.uri!r}",
            lambda up: up.session.read_resource(str(params.uri), **_input_rounds(params)),
        )

    # The client's own upstream session subscribes, its updates come back to that client only;
    # on a shared session the relay remembers who subscribed.
    async def subscribe(self, ctx: Ctx, params: types.SubscribeRequestParams) -> types.EmptyResult:
        if await self._listened(ctx, str(params.uri), on=True):
            return types.EmptyResult()
        request = types.SubscribeRequest(params=_cleaned(params))
        result = await self._request(ctx, request, types.EmptyResult)
        self.links.for_request(ctx)[1].subscribed(ctx, str(params.uri), on=True)
        return result

    async def unsubscribe(
        self, ctx: Ctx, params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        if await self._listened(ctx, str(params.uri), on=False):
            return types.EmptyResult()
        self.links.for_request(ctx)[1].subscribed(ctx, str(params.uri), on=False)
        request = types.UnsubscribeRequest(params=_cleaned(params))
        return await self._request(ctx, request, types.EmptyResult)

    async def _listened(self, ctx: Ctx, uri: str, *, on: bool) -> bool:
        """A shared session on a 2026-07-28 upstream, which has no resources/subscribe: the
        gateway's own upstream listen asks for the resource instead (``listen.py``)."""
        link, relay = self.links.for_request(ctx)
        client = link.current
        if link is not self.links.first or client is None or self.links.watch is None:
            return False
        if not is_version_at_least(client.protocol_version, "2026-07-28"):
            return False
        with relay.serving(ctx):  # (a first handshake-era client: the lists are listened for too)
            relay.subscribed(ctx, uri, on=on)
            await self.links.watch([f"uri:{uri}"], +1 if on else -1)
        return True

    # -- prompts, completions, logging ---------------------------------------------------------

    async def list_prompts(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return await self._forward(
            ctx, "prompts/list", lambda up: up.session.list_prompts(params=_paginated(params))
        )

    async def get_prompt(
        self, ctx: Ctx, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult | types.InputRequiredResult:
        return await self._forward(
            ctx,
            f"prompts/get {params.name!r}",
            lambda up: up.session.get_prompt(
                params.name, params.arguments, **_input_rounds(params)
            ),
        )

    async def complete(self, ctx: Ctx, params: types.CompleteRequestParams) -> types.CompleteResult:
        # The request as the client sent it (ref, argument {name, value}, context), less our keys.
        request = types.CompleteRequest(params=_cleaned(params))
        return await self._request(ctx, request, types.CompleteResult)

    async def set_level(self, ctx: Ctx, params: types.SetLevelRequestParams) -> types.EmptyResult:
        link, _relay = self.links.for_request(ctx)
        connection = connection_of(ctx)
        if connection is not None and speaks_modern(link):
            self._levels[connection] = params.level
            return types.EmptyResult()
        request = types.SetLevelRequest(params=_cleaned(params))
        return await self._request(ctx, request, types.EmptyResult)

    def log_level(self, ctx: Ctx) -> str:
        """What a handshake-era client's call through a 2026-07-28 upstream session asks for:
        the level the client set, else every level, as it would get directly until it sets one."""
        connection = connection_of(ctx)
        return self._levels.get(connection, "debug") if connection is not None else "debug"

    async def _request(self, ctx: Ctx, request: Any, result_type: type[_R]) -> _R:
        """Forward ``request`` as it is (its params already cleaned)."""
        what = request.method
        return await self._forward(
            ctx, what, lambda up: up.session.send_request(request, result_type)
        )
