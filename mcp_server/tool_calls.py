"""``tools/call`` through the gateway: progress, the upstream's own questions, errors.

- Progress the upstream reports reaches the client under the client's own ``progressToken``.
- An upstream ``InputRequiredResult`` goes to a 2026-07-28 client as it is; a handshake-era
  client is asked its questions over ``elicitation/create`` and the call retried with the answers.
- An upstream that does not answer, or cannot be reached, is an error result naming it
  (``UPSTREAM_ERROR``); the upstream's own errors pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import mcp_types as types
from mcp import Client, MCPError

from mcp_server import lean
from mcp_server.forward import (
    LOG_LEVEL_META_KEY,
    UPSTREAM_ERROR,
    Forwarder,
    clean_meta,
    clean_result,
    error_result,
    progress_token,
    speaks_modern,
)
from mcp_server.relay import Ctx, modern
from mcp_server.upstream import Connection, UpstreamError, UpstreamLink

_MAX_INPUT_ROUNDS = 10  # upstream multi-round asks resolved for a legacy downstream
_HEADER_MISMATCH = -32020  # mcp_types.jsonrpc.HEADER_MISMATCH: the tool listing is stale

_Send = Callable[
    [Client, types.InputResponses | None, str | None],
    Awaitable[types.CallToolResult | types.InputRequiredResult],
]


class ToolCalls:
    def __init__(self, forward: Forwarder) -> None:
        self.forward = forward
        self.spec = forward.spec

    async def call_tool(
        self, ctx: Ctx, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        what = f"tools/call {params.name!r}"
        meta = clean_meta(params.meta)
        raw_token = progress_token(params.meta)
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
            live = link.live(up) if lean.enabled() else None
            if live is not None and lean.eligible(live, meta, token is not None):
                return await self._lean(live, up, link, params, meta, responses, state)
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

        link, relay = self.forward.links.for_request(ctx)
        if not modern(ctx) and speaks_modern(link):
            # A handshake-era client gets the log messages of its call as it would directly (all
            # until it sets a level); a 2026-07-28 upstream sends them only to those who ask.
            level = self.forward.log_level(ctx)
            meta = cast(types.RequestParamsMeta, {**(meta or {}), LOG_LEVEL_META_KEY: level})
        with relay.serving(ctx):
            try:
                result = await self.forward.call(
                    link, what, lambda up: send(up, params.input_responses, params.request_state)
                )
                if isinstance(result, types.InputRequiredResult) and not modern(ctx):
                    result = await self._resolve_for_legacy(
                        ctx, link, params.name, what, result, send
                    )
            except UpstreamError as exc:
                return self._error(params.name, str(exc), code=UPSTREAM_ERROR)
        return clean_result(result)

    async def _lean(
        self,
        live: Connection,
        up: Client,
        link: UpstreamLink,
        params: types.CallToolRequestParams,
        meta: types.RequestParamsMeta | None,
        responses: types.InputResponses | None,
        state: str | None,
    ) -> types.CallToolResult | types.InputRequiredResult:
        """The call as one POST (``lean.py``), retried once after a fresh listing when the
        upstream wants ``Mcp-Param`` headers the session has not derived yet."""
        for attempt in (1, 2):
            try:
                return await lean.call_tool(
                    live,
                    up,
                    params.name,
                    params.arguments,
                    meta=meta,
                    input_responses=responses,
                    request_state=state,
                    on_message=link.callbacks.messages,
                )
            except MCPError as exc:
                if exc.code != _HEADER_MISMATCH or attempt == 2:
                    raise
                await up.session.list_tools()
        raise AssertionError("unreachable")

    def _error(self, tool: str, text: str, **payload: Any) -> types.CallToolResult:
        # structuredContent only where the tool is known to declare no output schema.
        payload.setdefault("upstream", self.spec.public)
        plain = self.forward.declares_output.get(tool, True)
        return error_result(text, structured=not plain, **payload)

    async def _resolve_for_legacy(
        self,
        ctx: Ctx,
        link: UpstreamLink,
        tool: str,
        what: str,
        result: types.CallToolResult | types.InputRequiredResult,
        send: _Send,
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

            result = await self.forward.call(link, what, again)
        return self._error(
            tool, f"{self.spec.label} asked for input too many times", code=UPSTREAM_ERROR
        )
