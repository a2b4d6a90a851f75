"""``gate mcp``: a gateway that fronts an existing MCP server and re-exposes it unchanged.

The front is a low-level ``mcp.server.lowlevel.Server`` whose handlers forward tools, resources and
prompts to one upstream ``mcp.Client`` (a stdio command or a streamable-HTTP URL).  The gate itself
(prices, ``gate_challenge`` / ``gate_solve``) is a ``ToolGate`` middleware installed on that server;
this module only knows how to forward, and how to fail fast and clearly when the upstream does not
answer.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import mcp_types as types
from anyio.abc import TaskGroup
from mcp import Client, MCPError, StdioServerParameters
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp_types.version import is_version_at_least

if TYPE_CHECKING:
    from gate.config import GateConfig
    from gate.rules import Rule

log = logging.getLogger(__name__)

UpstreamKind = Literal["command", "url"]
FrontTransport = Literal["http", "stdio"]
Ctx = ServerRequestContext[Any]
_T = TypeVar("_T")

RESERVED_META_PREFIX = "io.modelcontextprotocol/"
# The gate reads the pass from here; it is the client's credential for this gateway and must
# never reach the upstream.  Kept equal to mcp_server.toolgate.PASS_META_KEY.
PASS_META_KEY = "reasoning-gate/pass"
# progressToken names a stream of the downstream's; the upstream's notifications are not relayed.
_PRIVATE_META_KEYS = frozenset({PASS_META_KEY, "progressToken"})
_MAX_INPUT_ROUNDS = 10  # upstream multi-round asks resolved for a legacy downstream
_HEADER_MISMATCH = -32020  # mcp_types.jsonrpc.HEADER_MISMATCH: the tool listing is stale


class GatewayError(Exception):
    """The gateway cannot start or serve; the message is one line for people."""


class UpstreamError(GatewayError):
    """The upstream cannot be reached or did not answer."""


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """Where the upstream MCP server is and how long to wait for it."""

    target: str  # a shell-like command line, or a streamable-HTTP URL
    kind: UpstreamKind
    timeout: float = 30.0  # seconds for connecting and for every forwarded request

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("upstream timeout must be positive")
        if self.kind == "command" and not shlex.split(self.target):
            raise ValueError("upstream command is empty")
        if self.kind == "url" and not self.target.startswith(("http://", "https://")):
            raise ValueError(f"upstream URL must be http(s): {self.target!r}")

    @property
    def label(self) -> str:
        return f"upstream {self.target!r}"

    def transport(self) -> StdioServerParameters | str:
        if self.kind == "url":
            return self.target
        command, *args = shlex.split(self.target)
        # The operator's command runs as if typed in their shell: the whole environment, not the
        # SDK's short default list (which drops e.g. VIRTUAL_ENV and PYTHONPATH).
        return StdioServerParameters(command=command, args=args, env=dict(os.environ))


def _unwrap(exc: BaseException) -> BaseException:
    """The one failure inside nested single-member exception groups (the SDK's task groups)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def describe(exc: BaseException) -> str:
    """One line naming the cause, looking through the task groups the SDK raises from."""
    exc = _unwrap(exc)
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in exc.exceptions)
    if isinstance(exc, MCPError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class UpstreamLink:
    """One live connection to the upstream, reopened on demand after it dies.

    ``mcp.Client`` must be left in the task that entered it, and a dying HTTP upstream makes its
    internal task group cancel that task; so each connection lives in an owner task of its own,
    where the failure is caught, instead of in the server's task.
    """

    def __init__(self, spec: UpstreamSpec, owners: TaskGroup) -> None:
        self.spec = spec
        self._owners = owners  # where the connections' owner tasks run
        self._client: Client | None = None
        self._scope: anyio.CancelScope | None = None  # the live connection's owner task
        self._lock = anyio.Lock()

    @classmethod
    @asynccontextmanager
    async def connect(cls, spec: UpstreamSpec) -> AsyncIterator[UpstreamLink]:
        """Open the first connection (``UpstreamError`` if it fails) and keep the link until exit."""
        failure: UpstreamError | None = None
        async with anyio.create_task_group() as owners:
            link = cls(spec, owners)
            try:
                await link.client()
            except UpstreamError as exc:
                failure = exc  # raised below, outside the task group, so it stays unwrapped
            else:
                try:
                    yield link
                finally:
                    link.close()
            owners.cancel_scope.cancel()
        if failure is not None:
            raise failure

    def close(self) -> None:
        self._client = None
        if self._scope is not None:
            self._scope.cancel()

    @property
    def current(self) -> Client | None:
        return self._client

    async def client(self) -> Client:
        """The connected client, reconnecting first if the last connection died."""
        client = self._client
        if client is not None:
            return client
        async with self._lock:  # concurrent callers share one reconnection
            if self._client is None:
                await self._open()
            assert self._client is not None
            return self._client

    def mark_dead(self, client: Client) -> None:
        """Forget ``client`` (its transport closed); the next call reconnects."""
        if self._client is client:
            self.close()

    def _startup_cause(self, exc: Exception) -> str:
        inner = _unwrap(exc)
        closed = isinstance(inner, MCPError) and inner.code == types.CONNECTION_CLOSED
        if closed and self.spec.kind == "command":
            return "the command exited before completing the MCP handshake"
        return describe(exc)

    async def _open(self) -> None:
        outcome: dict[str, Any] = {}
        ready = anyio.Event()
        scope = anyio.CancelScope()
        self._owners.start_soon(self._own, ready, scope, outcome)
        try:
            with anyio.fail_after(self.spec.timeout):
                await ready.wait()
        except TimeoutError:
            scope.cancel()  # also ends a handshake that is still waiting
            raise UpstreamError(
                f"{self.spec.label} did not answer within {self.spec.timeout:g}s"
            ) from None
        if "error" in outcome:
            raise UpstreamError(f"cannot connect to {self.spec.label}: {outcome['error']}")
        self._client, self._scope = outcome["client"], scope

    async def _own(
        self, ready: anyio.Event, scope: anyio.CancelScope, outcome: dict[str, Any]
    ) -> None:
        client: Client | None = None
        try:
            with scope:
                # cache=None: a proxy must never answer from a stale copy of the upstream's lists.
                async with Client(self.spec.transport(), mode="auto", cache=None) as client:
                    outcome["client"] = client
                    ready.set()
                    await anyio.sleep_forever()
        except Exception as exc:
            if not ready.is_set():
                outcome["error"] = self._startup_cause(exc)
            else:
                log.warning("%s: connection lost: %s", self.spec.label, describe(exc))
                log.debug("upstream connection failure", exc_info=True)
        finally:
            ready.set()
            if client is not None:
                self.mark_dead(client)


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


_R = TypeVar("_R", bound=types.Result)


def clean_result(result: _R) -> _R:
    """Drop the upstream's reserved result ``_meta`` (its server identity stamp, for one)."""
    meta = result.meta
    if meta and any(key.startswith(RESERVED_META_PREFIX) for key in meta):
        kept = {k: v for k, v in meta.items() if not k.startswith(RESERVED_META_PREFIX)}
        return result.model_copy(update={"meta": kept or None})
    return result


def error_result(text: str, **structured: Any) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=structured or None,
        is_error=True,
    )


class Forwarder:
    """The front server's handlers: each forwards one request to the upstream, bounded in time."""

    def __init__(self, link: UpstreamLink) -> None:
        self.link = link
        self.spec = link.spec
        # Input schemas from the latest tools/list: the front checks Mcp-Param headers against
        # them without asking the upstream for its whole listing on every call.
        self.input_schemas: dict[str, dict[str, Any]] = {}

    def tool_input_schema(self, name: str) -> dict[str, Any] | None:
        # None (not yet listed) skips the front's check only; the upstream still checks.
        return self.input_schemas.get(name)

    async def _call(self, what: str, send: Callable[[Client], Awaitable[_T]]) -> _T:
        """Run ``send`` on the upstream; transport failures become one-line ``UpstreamError``s.

        Errors the upstream itself answered with (unknown resource, invalid params...) pass
        through unchanged as ``MCPError``.
        """
        client = await self.link.client()  # UpstreamError when it cannot be (re)opened
        try:
            with anyio.fail_after(self.spec.timeout):
                return await send(client)
        except TimeoutError:
            raise UpstreamError(
                f"{self.spec.label} did not answer {what} within {self.spec.timeout:g}s"
            ) from None
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                self.link.mark_dead(client)
                raise UpstreamError(f"{self.spec.label} closed the connection ({what})") from None
            if exc.code == types.REQUEST_TIMEOUT:
                raise UpstreamError(
                    f"{self.spec.label} did not answer {what} within {self.spec.timeout:g}s"
                ) from None
            raise
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
            self.link.mark_dead(client)
            raise UpstreamError(f"{self.spec.label} is unreachable: {describe(exc)}") from None
        except Exception as exc:  # a malformed answer: report it, never a traceback
            log.debug("upstream %s failed", what, exc_info=True)
            raise UpstreamError(f"{self.spec.label} failed on {what}: {describe(exc)}") from None

    async def _rpc(self, what: str, send: Callable[[Client], Awaitable[_R]]) -> _R:
        """``_call`` for methods whose errors travel as JSON-RPC errors."""
        try:
            return clean_result(await self._call(what, send))
        except UpstreamError as exc:
            raise MCPError(types.INTERNAL_ERROR, str(exc)) from None

    # -- tools ---------------------------------------------------------------------------------

    async def list_tools(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        result = await self._rpc(
            "tools/list",
            lambda up: up.session.list_tools(params=_paginated(params)),
        )
        self.input_schemas.update((tool.name, tool.input_schema) for tool in result.tools)
        return result

    async def call_tool(
        self, ctx: Ctx, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        what = f"tools/call {params.name!r}"
        meta = clean_meta(params.meta)

        async def send(
            up: Client,
            responses: types.InputResponses | None,
            state: str | None,
        ) -> types.CallToolResult | types.InputRequiredResult:
            call = up.session.call_tool
            kwargs: dict[str, Any] = {
                "read_timeout_seconds": self.spec.timeout,
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

        try:
            result = await self._call(
                what, lambda up: send(up, params.input_responses, params.request_state)
            )
            if isinstance(result, types.InputRequiredResult) and not _modern(ctx):
                result = await self._resolve_for_legacy(ctx, what, result, send)
        except UpstreamError as exc:
            return error_result(str(exc), code="UPSTREAM_ERROR", upstream=self.spec.target)
        return clean_result(result)

    async def _resolve_for_legacy(
        self,
        ctx: Ctx,
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
                    return error_result(
                        f"{self.spec.label} asked for input this gateway cannot relay"
                        f" to a pre-2026 client ({request.method})",
                        code="UPSTREAM_ERROR",
                    )
                try:
                    answers[key] = await ctx.session.elicit_form(
                        request.params.message,
                        request.params.requested_schema,
                        related_request_id=ctx.request_id,
                    )
                except MCPError as exc:
                    return error_result(
                        f"{self.spec.label} asked for input and the client could not answer:"
                        f" {exc.message}",
                        code="INPUT_UNAVAILABLE",
                    )
            state = result.request_state

            def again(up: Any, a: Any = answers, s: Any = state) -> Any:
                return send(up, a, s)

            result = await self._call(what, again)
        return error_result(
            f"{self.spec.label} asked for input too many times", code="UPSTREAM_ERROR"
        )

    # -- resources -----------------------------------------------------------------------------

    async def list_resources(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await self._rpc(
            "resources/list", lambda up: up.session.list_resources(params=_paginated(params))
        )

    async def list_resource_templates(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return await self._rpc(
            "resources/templates/list",
            lambda up: up.session.list_resource_templates(params=_paginated(params)),
        )

    async def read_resource(
        self, ctx: Ctx, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult | types.InputRequiredResult:
        return await self._rpc(
            f"resources/read {params.uri!r}",
            lambda up: up.session.read_resource(
                str(params.uri),
                input_responses=params.input_responses,
                request_state=params.request_state,
                meta=clean_meta(params.meta),
                allow_input_required=True,
            ),
        )

    # -- prompts -------------------------------------------------------------------------------

    async def list_prompts(
        self, ctx: Ctx, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return await self._rpc(
            "prompts/list", lambda up: up.session.list_prompts(params=_paginated(params))
        )

    async def get_prompt(
        self, ctx: Ctx, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult | types.InputRequiredResult:
        return await self._rpc(
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
        context = params.context.arguments if params.context else None
        return await self._rpc(
            "completion/complete",
            lambda up: up.session.complete(
                ref=params.ref,
                argument={params.argument.name: params.argument.value},
                context_arguments=context,
            ),
        )


def _paginated(params: types.PaginatedRequestParams | None) -> types.PaginatedRequestParams | None:
    if params is None:
        return None
    return types.PaginatedRequestParams(cursor=params.cursor, _meta=clean_meta(params.meta))


def _modern(ctx: Ctx) -> bool:
    version = ctx.protocol_version
    return bool(version) and is_version_at_least(version, "2026-07-28")


def build_gateway(link: UpstreamLink, *, name: str = "reasoning-gate") -> Server[Any]:
    """The front server for a connected upstream: the upstream's capabilities, forwarded."""
    forward = Forwarder(link)
    client = link.current
    caps = client.server_capabilities if client is not None else None
    # Offer what the upstream offers (a pinned or unknown capability set means: offer it all);
    # tools always, since the gate serves its own tools next to the upstream's.
    known = caps is not None and any((caps.tools, caps.resources, caps.prompts, caps.completions))
    has = {
        "resources": not known or (caps is not None and caps.resources is not None),
        "prompts": not known or (caps is not None and caps.prompts is not None),
        "completions": not known or (caps is not None and caps.completions is not None),
    }
    info = client.server_info if client is not None else None
    return Server(
        name,
        version=info.version if info is not None else "",
        instructions=client.instructions if client is not None else None,
        get_tool_input_schema=forward.tool_input_schema,
        on_list_tools=forward.list_tools,
        on_call_tool=forward.call_tool,
        on_list_resources=forward.list_resources if has["resources"] else None,
        on_list_resource_templates=forward.list_resource_templates if has["resources"] else None,
        on_read_resource=forward.read_resource if has["resources"] else None,
        on_list_prompts=forward.list_prompts if has["prompts"] else None,
        on_get_prompt=forward.get_prompt if has["prompts"] else None,
        on_completion=forward.complete if has["completions"] else None,
    )


@asynccontextmanager
async def open_gateway(
    upstream: UpstreamSpec,
    *,
    rules: Mapping[str, Rule] | None = None,
    config: GateConfig | None = None,
) -> AsyncIterator[Server[Any]]:
    """Connect to the upstream and yield the front server, with the gate installed when
    ``rules`` price any tool.  Raises ``GatewayError`` (``UpstreamError`` when the upstream
    cannot be reached)."""
    async with UpstreamLink.connect(upstream) as link:
        server = build_gateway(link)
        if not rules:
            yield server
            return
        from mcp_server.toolgate import ToolGate

        gate = ToolGate(dict(rules), config=config)
        try:  # start the gate's runtime now: a bad store or bank must stop start-up, not a call
            await gate.gatekeeper()
        except Exception as exc:
            await gate.aclose()
            raise GatewayError(f"cannot start the gate: {describe(exc)}") from None
        gate.install(server)
        try:
            yield server
        finally:
            # Shielded: the gateway usually ends by cancellation, and an interrupted close
            # would leave the bank's connection (and its worker thread) open.
            with anyio.move_on_after(10, shield=True):
                await gate.aclose()


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
) -> None:
    """Serve the gateway until cancelled.  ``ready`` gets a one-line description once it serves."""
    async with open_gateway(upstream, rules=rules, config=config) as server:
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

        await _serve_http(app, host, port, announce)


async def _serve_http(app: Any, host: str, port: int, on_ready: Callable[[], None]) -> None:
    """Run uvicorn until cancelled, then stop it the graceful way so it closes its sockets
    (a cancelled ``serve()`` leaves the listening socket open)."""
    import uvicorn

    web = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # the gate trusts forwarding headers from its own list only
            timeout_graceful_shutdown=2,  # open SSE streams must not hold the exit
        )
    )
    done = anyio.Event()
    serving = anyio.CancelScope(shield=True)

    async def run() -> None:
        try:
            with serving:
                await web.serve()
        except SystemExit:  # uvicorn exits this way when it cannot bind; reported below
            pass
        finally:
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        try:
            while not web.started:  # uvicorn has no start-up callback
                if done.is_set():
                    raise GatewayError(f"cannot listen on {host}:{port}")
                await anyio.sleep(0.02)
            on_ready()
            await done.wait()
        finally:
            web.should_exit = True
            with anyio.move_on_after(5, shield=True):
                await done.wait()
            serving.cancel()


def log_to_stderr(level: int = logging.INFO) -> None:
    """Logs go to stderr: on the stdio front, stdout carries nothing but MCP."""
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
