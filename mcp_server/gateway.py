"""``gate mcp``: a gateway that fronts an existing MCP server and re-exposes it unchanged.

The front is a low-level ``mcp.server.lowlevel.Server`` whose handlers forward tools, resources,
prompts, completions, subscriptions and logging levels to one upstream ``mcp.Client`` (a stdio
command or a streamable-HTTP URL, ``upstream.py``); what the upstream sends on its own travels
back through ``relay.py``.  The gate itself (prices, ``gate_challenge`` / ``gate_solve``) is a
``ToolGate`` middleware installed on that server; this module only knows how to forward, and how
to fail fast and clearly when the upstream does not answer.  The upstream's own answers, errors
included, pass through unchanged.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import mcp_types as types
from mcp import Client, MCPError
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server

from mcp_server.relay import Relay, modern
from mcp_server.upstream import (
    Callbacks,
    Connection,
    GatewayError,
    UpstreamError,
    UpstreamLink,
    UpstreamSpec,
    describe,
    find_gateway_error,
)

if TYPE_CHECKING:
    from gate.config import GateConfig
    from gate.rules import Rule

__all__ = [
    "GatewayError",
    "UpstreamError",
    "UpstreamSpec",
    "build_gateway",
    "log_to_stderr",
    "open_gateway",
    "serve_gateway",
    "transport_security",
]

log = logging.getLogger(__name__)

FrontTransport = str  # "http" or "stdio"
Ctx = ServerRequestContext[Any]
_T = TypeVar("_T")

RESERVED_META_PREFIX = "io.modelcontextprotocol/"
# The gate reads the pass from here; it is the client's credential for this gateway and must
# never reach the upstream.  Kept equal to mcp_server.toolgate.PASS_META_KEY.
PASS_META_KEY = "reasoning-gate/pass"
ERROR_META_KEY = "reasoning-gate/error"  # = mcp_server.toolgate.ERROR_META_KEY
# progressToken names a stream of the downstream's: the upstream gets one of the link's own,
# and its progress is relayed under the downstream's token.
# (The SDK parses it into the key ``progress_token``; the wire spells it ``progressToken``.)
_PROGRESS_KEYS = ("progressToken", "progress_token")
_PRIVATE_META_KEYS = frozenset({PASS_META_KEY, *_PROGRESS_KEYS})
_MAX_INPUT_ROUNDS = 10  # upstream multi-round asks resolved for a legacy downstream
_HEADER_MISMATCH = -32020  # mcp_types.jsonrpc.HEADER_MISMATCH: the tool listing is stale
UPSTREAM_ERROR = "UPSTREAM_ERROR"


def clean_meta(meta: Mapping[str, Any] | None) -> types.RequestParamsMeta | None:
    """The downstream's ``_meta`` without the protocol's reserved keys and the gate's own."""
    if not meta:
        return None
    kept = {
        key: value
        for key, value in meta.items()
        if not key.startswith(RESERVED_META_PREFIX) and key not in _PRIVATE_META_KEYS
    }
    return types.RequestParamsMeta(**kept) if kept else None  # type: ignore[typeddict-item]


def _progress_token(meta: Mapping[str, Any] | None) -> Any:
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


class Forwarder:
    """The front server's handlers: each forwards one request to the upstream, bounded in time."""

    def __init__(self, link: UpstreamLink, relay: Relay) -> None:
        self.link = link
        self.spec = link.spec
        self.relay = relay
        # Schemas from the latest tools/list: the front checks Mcp-Param headers against the
        # input schemas without asking the upstream for its whole listing on every call, and
        # leaves structuredContent out of its errors for tools that declare an output schema.
        self.input_schemas: dict[str, dict[str, Any]] = {}
        self.declares_output: dict[str, bool] = {}

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

            result = await self._rpc("tools/list", listing)
            self._learn(result)
            names += [tool.name for tool in result.tools]
            cursor = result.next_cursor
            if not cursor:
                return names

    def _learn(self, result: types.ListToolsResult) -> None:
        for tool in result.tools:
            self.input_schemas[tool.name] = tool.input_schema
            self.declares_output[tool.name] = tool.output_schema is not None

    async def _call(self, what: str, send: Callable[[Client], Awaitable[_T]]) -> _T:
        """Run ``send`` on the upstream; transport failures become one-line ``UpstreamError``s.

        Errors the upstream itself answered with (unknown resource, invalid params, its own
        -32001...) pass through unchanged as ``MCPError``.  A session the upstream no longer
        knows (it restarted) is replaced and the request sent once more: the upstream refused
        it without running it.
        """
        for attempt in (1, 2):
            connection = await self.link.connection()  # UpstreamError when it cannot be opened
            try:
                return await self._send(what, connection, send)
            except MCPError:
                if connection.session_lost and attempt == 1:
                    log.info("%s: session gone (restarted?); opening a new one", self.spec.label)
                    self.link.mark_dead(connection)
                    continue
                raise
        raise AssertionError("unreachable")

    async def _send(
        self, what: str, connection: Connection, send: Callable[[Client], Awaitable[_T]]
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
                self.link.mark_dead(connection)
                raise UpstreamError(f"{self.spec.label} closed the connection ({what})") from None
            if connection.session_lost:
                raise
            raise MCPError(exc.code, self.spec.scrub(exc.message), exc.error.data) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
            self.link.mark_dead(connection)
            raise UpstreamError(
                f"{self.spec.label} is unreachable: {self.spec.scrub(describe(exc))}"
            ) from None
        except Exception as exc:  # a malformed answer: report it, never a traceback
            log.debug("upstream %s failed: %s", what, type(exc).__name__)
            raise UpstreamError(
                f"{self.spec.label} failed on {what}: {self.spec.scrub(describe(exc))}"
            ) from None

    async def _rpc(self, what: str, send: Callable[[Client], Awaitable[_R]]) -> _R:
        """``_call`` for methods whose errors travel as JSON-RPC errors."""
        try:
            return clean_result(await self._call(what, send))
        except UpstreamError as exc:
            raise MCPError(types.INTERNAL_ERROR, str(exc)) from None

    async def _forward(self, ctx: Ctx, what: str, send: Callable[[Client], Awaitable[_R]]) -> _R:
        with self.relay.serving(ctx):
            return await self._rpc(what, send)

    # -- tools ---------------------------------------------------------------------------------

    async def list_tools(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        result = await self._forward(
            ctx, "tools/list", lambda up: up.session.list_tools(params=_paginated(params))
        )
        self._learn(result)
        return result

    async def call_tool(
        self, ctx: Ctx, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        what = f"tools/call {params.name!r}"
        meta = clean_meta(params.meta)
        raw_token = _progress_token(params.meta)
        token = raw_token if isinstance(raw_token, str | int) else None

        async def progress(value: float, total: float | None, message: str | None) -> None:
            if token is not None:  # (send_progress_notification is the deprecated spelling)
                notice = types.ProgressNotificationParams(
                    progress_token=token, progress=value, total=total, message=message
                )
                await ctx.session.send_notification(
                    types.ProgressNotification(params=notice), ctx.request_id
                )

        async def send(
            up: Client,
            responses: types.InputResponses | None,
            state: str | None,
        ) -> types.CallToolResult | types.InputRequiredResult:
            call = up.session.call_tool
            kwargs: dict[str, Any] = {
                "progress_callback": progress if token is not None else None,
                "input_responses": responses,
                "request_state": state,
                "meta": meta,
                "allow_input_required": True,
            }
            try:
                return await call(params.name, params.arguments, **kwargs)
            except MCPError as exc:
                if exc.code != _HEADER_MISMATCH:
                    raise
                # The upstream wants Mcp-Param headers the session derives from a fresh listing.
                await up.session.list_tools()
                return await call(params.name, params.arguments, **kwargs)

        with self.relay.serving(ctx):
            try:
                result = await self._call(
                    what, lambda up: send(up, params.input_responses, params.request_state)
                )
                if isinstance(result, types.InputRequiredResult) and not modern(ctx):
                    result = await self._resolve_for_legacy(ctx, params.name, what, result, send)
            except UpstreamError as exc:
                return self._error(params.name, str(exc), code=UPSTREAM_ERROR)
        return clean_result(result)

    def _error(self, tool: str, text: str, **payload: Any) -> types.CallToolResult:
        # structuredContent only where the tool is known to declare no output schema.
        payload.setdefault("upstream", self.spec.public)
        plain = self.declares_output.get(tool, True)
        return error_result(text, structured=not plain, **payload)

    async def _resolve_for_legacy(
        self,
        ctx: Ctx,
        tool: str,
        what: str,
        result: types.CallToolResult | types.InputRequiredResult,
        send: Callable[
            [Client, types.InputResponses | None, str | None],
            Awaitable[types.CallToolResult | types.InputRequiredResult],
        ],
    ) -> types.CallToolResult:
        """A pre-2026 downstream cannot take an ``InputRequiredResult``: ask its questions over
        ``elicitation/create`` on the downstream session, then retry upstream with the answers."""
        for _ in range(_MAX_INPUT_ROUNDS):
            if not isinstance(result, types.InputRequiredResult):
                return result
            answers: dict[str, Any] = {}
            for key, request in (result.input_requests or {}).items():
                if not isinstance(request, types.ElicitRequest) or not isinstance(
                    request.params, types.ElicitRequestFormParams
                ):
                    return self._error(
                        tool,
                        f"{self.spec.label} asked for input this gateway cannot relay"
                        f" to a pre-2026 client ({request.method})",
                        code=UPSTREAM_ERROR,
                    )
                try:
                    answers[key] = await ctx.session.elicit_form(
                        request.params.message,
                        request.params.requested_schema,
                        related_request_id=ctx.request_id,
                    )
                except MCPError as exc:
                    return self._error(
                        tool,
                        f"{self.spec.label} asked for input and the client could not answer:"
                        f" {exc.message}",
                        code="INPUT_UNAVAILABLE",
                    )
            state = result.request_state

            async def again(
                up: Client, a: dict[str, Any] = answers, s: str | None = state
            ) -> types.CallToolResult | types.InputRequiredResult:
                return await send(up, a, s)

            result = await self._call(what, again)
        return self._error(
            tool, f"{self.spec.label} asked for input too many times", code=UPSTREAM_ERROR
        )

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
            lambda up: up.session.read_resource(
                str(params.uri),
                input_responses=params.input_responses,
                request_state=params.request_state,
                meta=clean_meta(params.meta),
                allow_input_required=True,
            ),
        )

    async def subscribe(self, ctx: Ctx, params: types.SubscribeRequestParams) -> types.EmptyResult:
        uri = str(params.uri)
        result = await self._forward(
            ctx,
            f"resources/subscribe {uri!r}",
            lambda up: up.session.send_request(
                types.SubscribeRequest(params=_cleaned(params)), types.EmptyResult
            ),
        )
        self.relay.subscribe(ctx, uri)
        return result

    async def unsubscribe(
        self, ctx: Ctx, params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        uri = str(params.uri)
        self.relay.unsubscribe(ctx, uri)
        return await self._forward(
            ctx,
            f"resources/unsubscribe {uri!r}",
            lambda up: up.session.send_request(
                types.UnsubscribeRequest(params=_cleaned(params)), types.EmptyResult
            ),
        )

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
                params.name,
                params.arguments,
                input_responses=params.input_responses,
                request_state=params.request_state,
                meta=clean_meta(params.meta),
                allow_input_required=True,
            ),
        )

    async def complete(self, ctx: Ctx, params: types.CompleteRequestParams) -> types.CompleteResult:
        # The request as the client sent it (ref, argument {name, value}, context), less our keys.
        return await self._forward(
            ctx,
            "completion/complete",
            lambda up: up.session.send_request(
                types.CompleteRequest(params=_cleaned(params)), types.CompleteResult
            ),
        )

    async def set_level(self, ctx: Ctx, params: types.SetLevelRequestParams) -> types.EmptyResult:
        return await self._forward(
            ctx,
            "logging/setLevel",
            lambda up: up.session.send_request(
                types.SetLevelRequest(params=_cleaned(params)), types.EmptyResult
            ),
        )


_P = TypeVar("_P", bound=types.RequestParams)


def _cleaned(params: _P) -> _P:
    return params.model_copy(update={"meta": clean_meta(params.meta)})


def _paginated(params: types.PaginatedRequestParams | None) -> types.PaginatedRequestParams | None:
    if params is None:
        return None
    return types.PaginatedRequestParams(cursor=params.cursor, _meta=clean_meta(params.meta))


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
    link: UpstreamLink, relay: Relay | None = None, *, name: str = "reasoning-gate"
) -> tuple[Server[Any], Forwarder]:
    """The front server for a connected upstream: the upstream's capabilities, forwarded."""
    forward = Forwarder(link, relay or Relay())
    client = link.current
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
        on_call_tool=forward.call_tool,
        on_list_resources=forward.list_resources if has("resources") else None,
        on_list_resource_templates=forward.list_resource_templates if has("resources") else None,
        on_read_resource=forward.read_resource if has("resources") else None,
        on_subscribe_resource=forward.subscribe if has("resources") and subscribe else None,
        on_unsubscribe_resource=forward.unsubscribe if has("resources") and subscribe else None,
        on_list_prompts=forward.list_prompts if has("prompts") else None,
        on_get_prompt=forward.get_prompt if has("prompts") else None,
        on_completion=forward.complete if has("completions") else None,
    )
    if known and caps is not None and caps.logging is not None:
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
    relay = Relay()
    callbacks = Callbacks(
        sampling=relay.sampling,
        elicitation=relay.elicitation,
        roots=relay.roots,
        logging=relay.logging,
        messages=relay.messages,
    )
    async with UpstreamLink.connect(upstream, callbacks) as link:
        server, forward = build_gateway(link, relay)
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


def transport_security(host: str, allowed_hosts: Sequence[str] = ()) -> Any:
    """The SDK protects loopback binds from DNS rebinding by itself; elsewhere, or when the operator
    names the public host names, allow exactly those and the bound host (any port) instead of
    leaving the check off."""
    from mcp.server.transport_security import TransportSecuritySettings

    loopback = host in ("127.0.0.1", "localhost", "::1")
    if loopback and not allowed_hosts:
        return None
    names = [f"[{name}]" if ":" in name else name for name in (host, *allowed_hosts)]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[form for name in names for form in (name, f"{name}:*")],
        allowed_origins=[
            f"{scheme}://{name}{port}"
            for name in names
            for scheme in ("http", "https")
            for port in ("", ":*")
        ],
    )


async def serve_gateway(
    upstream: UpstreamSpec,
    *,
    transport: FrontTransport = "http",
    host: str = "127.0.0.1",
    port: int = 8100,
    path: str = "/mcp",
    allowed_hosts: Sequence[str] = (),
    rules: Mapping[str, Rule] | None = None,
    config: GateConfig | None = None,
    ready: Callable[[str], None] | None = None,
    allow_unlisted: bool = False,
) -> None:
    """Serve the gateway until cancelled.  ``ready`` gets a one-line description once it serves.
    Every start-up failure is one ``GatewayError``, never a group of them."""
    try:
        await _serve(
            upstream,
            transport=transport,
            host=host,
            port=port,
            path=path,
            allowed_hosts=allowed_hosts,
            rules=rules,
            config=config,
            ready=ready,
            allow_unlisted=allow_unlisted,
        )
    except BaseExceptionGroup as group:
        found = find_gateway_error(group)
        if found is None:
            raise
        raise found from None


async def _serve(
    upstream: UpstreamSpec,
    *,
    transport: FrontTransport,
    host: str,
    port: int,
    path: str,
    allowed_hosts: Sequence[str],
    rules: Mapping[str, Rule] | None,
    config: GateConfig | None,
    ready: Callable[[str], None] | None,
    allow_unlisted: bool,
) -> None:
    sock = bind(host, port) if transport == "http" else None
    gateway = open_gateway(upstream, rules=rules, config=config, allow_unlisted=allow_unlisted)
    try:
        async with gateway as server:
            await _front(server, upstream, sock, transport, host, port, path, allowed_hosts, ready)
    finally:
        if sock is not None:
            sock.close()


async def _front(
    server: Server[Any],
    upstream: UpstreamSpec,
    sock: socket.socket | None,
    transport: FrontTransport,
    host: str,
    port: int,
    path: str,
    allowed_hosts: Sequence[str],
    ready: Callable[[str], None] | None,
) -> None:
    if transport == "stdio":
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write):
            if ready is not None:
                ready(f"serving {upstream.label} on stdio")
            await server.run(read, write, server.create_initialization_options())
        return
    app = server.streamable_http_app(
        streamable_http_path=path,
        transport_security=transport_security(host, allowed_hosts),
        host=host,
        # SSE (the default), not json_response: a legacy client's elicitation travels on
        # the request's own stream; JSON responses would cut it off.
    )

    def announce() -> None:
        if ready is not None:
            ready(f"serving {upstream.label} on http://{host}:{port}{path}")

    assert sock is not None
    await _serve_http(app, sock, host, port, announce)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts: a port in use is one line
    (uvicorn would log its own error first, then exit)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _name, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise GatewayError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise GatewayError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


async def _serve_http(
    app: Any, sock: socket.socket, host: str, port: int, on_ready: Callable[[], None]
) -> None:
    """Serve on the bound ``sock`` through the gate's one server runner."""
    from serving.runner import ServeError, serve

    try:
        await serve(
            app,
            host,
            port,
            sockets=[sock],
            ready=on_ready,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,  # open SSE streams must not hold the exit
        )
    except ServeError as exc:
        raise GatewayError(str(exc)) from None
    finally:
        sock.close()


def log_to_stderr(level: int = logging.INFO) -> None:
    """Logs go to stderr: on the stdio front, stdout carries nothing but MCP."""
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
