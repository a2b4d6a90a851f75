"""The fast path of ``tools/call`` to a 2026-07-28 streamable-HTTP upstream: one POST, no SDK client.

The SDK's client hop (its dispatcher, the transport's memory streams and task per request, two
model round trips of the request) cost the gateway more CPU than the upstream spends on the call
(docs/benchmarks.md).  A 2026-07-28 ``tools/call`` over streamable HTTP is one POST whose answer
is the JSON-RPC response, as JSON or as a short SSE stream; this module sends that POST itself,
over the upstream session's own HTTP client (its connection pool, its response hook that notices
a forgotten session), stamped by the session's own stamp, so the upstream sees exactly what the
SDK would send.  The answer is validated by the session's own result adapter.

It carries only calls that need nothing else from the session while they run (``eligible``): no
progress token (progress would need relaying) and no log-level opt-in (log messages would).  On
2026-07-28 the upstream asks its questions in the result (``InputRequiredResult``), never by a
request of its own, so nothing else can arrive on the stream; what does (a stray notification)
goes to the link's message callback as the SDK would hand it over.  Everything else takes the
SDK's path (``tool_calls.py``).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client, MCPError
from mcp.shared._httpx_utils import stream_within_origin
from mcp_types.version import is_version_at_least
from pydantic import ValidationError

from mcp_server.upstream import Connection

__all__ = ["call_tool", "eligible", "enabled"]

_LOG_LEVEL_META_KEY = "io.modelcontextprotocol/logLevel"
_ids = itertools.count(1 << 40)  # apart from the SDK session's own ids, which count from 0


def enabled() -> bool:
    """``MCP_GATEWAY_LEAN=0`` sends every call through the SDK's client (to compare, or to rule the
    fast path out)."""
    return os.environ.get("MCP_GATEWAY_LEAN", "1") != "0"


def eligible(connection: Connection, meta: Mapping[str, Any] | None, progress: bool) -> bool:
    """Whether this call may take the fast path on ``connection``."""
    client = connection.client
    if connection.http is None or connection.url is None or client is None or progress:
        return False
    version = client.protocol_version
    if version is None or not is_version_at_least(version, "2026-07-28"):
        return False  # a handshake-era session: the upstream may ask questions mid-call
    return not (meta and _LOG_LEVEL_META_KEY in meta)


async def call_tool(
    connection: Connection,
    up: Client,
    name: str,
    arguments: dict[str, Any] | None,
    *,
    meta: Mapping[str, Any] | None,
    input_responses: types.InputResponses | None,
    request_state: str | None,
    on_message: Any = None,
) -> types.CallToolResult | types.InputRequiredResult:
    """``up.session.call_tool(..., allow_input_required=True)``, as one POST.

    Raises ``MCPError`` for the upstream's JSON-RPC errors (and the HTTP failures the SDK turns
    into them), ``ConnectionError`` when the upstream cannot be reached.
    """
    session: Any = up.session
    params: dict[str, Any] = {"name": name}
    if arguments is not None:
        params["arguments"] = arguments
    if input_responses is not None:
        params["inputResponses"] = {
            key: value.model_dump(by_alias=True, mode="json", exclude_none=True)
            if hasattr(value, "model_dump")
            else value
            for key, value in input_responses.items()
        }
    if request_state is not None:
        params["requestState"] = request_state
    if meta:
        params["_meta"] = dict(meta)
    request_id = next(_ids)
    data: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call"}
    data["params"] = params
    opts: dict[str, Any] = {}
    session._stamp(data, opts)  # the session's stamp: version, client info, capabilities, headers
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    if connection.session_id:
        headers["mcp-session-id"] = connection.session_id
    headers.update(opts.get("headers") or {})
    body = json.dumps(data, separators=(",", ":")).encode()
    assert connection.http is not None and connection.url is not None
    try:
        async with stream_within_origin(
            connection.http, "POST", connection.url, content=body, headers=headers
        ) as response:
            raw = await _answer(response, connection, on_message)
    except httpx2.TransportError as exc:
        raise ConnectionError(str(exc) or type(exc).__name__) from None
    if "error" in raw:
        error = types.ErrorData.model_validate(raw["error"])
        raise MCPError(error.code, error.message, error.data)
    result = session._call_tool_adapter.validate_python(raw.get("result"), by_name=False)
    if isinstance(result, types.CallToolResult) and not result.is_error:
        await session.validate_tool_result(name, result)
    if not isinstance(result, types.CallToolResult | types.InputRequiredResult):
        raise MCPError(types.INTERNAL_ERROR, f"unexpected result to tools/call {name!r}")
    return result


async def _answer(
    response: httpx2.Response, connection: Connection, on_message: Any
) -> dict[str, Any]:
    """The JSON-RPC response object in ``response``, as the SDK's transport reads it."""
    status = response.status_code
    content_type = response.headers.get("content-type", "").lower()
    if status == 202:
        raise MCPError(types.INVALID_REQUEST, "server answered a request with 202 Accepted")
    if 300 <= status < 400:
        raise MCPError(types.INVALID_REQUEST, f"upstream redirected the request ({status})")
    if status >= 400:
        if content_type.startswith("application/json"):
            try:
                parsed = json.loads(await response.aread())
            except ValueError:
                parsed = None
            if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
                return parsed
        if status == 404:
            if connection.session_id is None:
                raise MCPError(types.METHOD_NOT_FOUND, "Not Found")
            raise MCPError(types.INVALID_REQUEST, "Session terminated")
        raise MCPError(types.INTERNAL_ERROR, "Server returned an error response")
    if content_type.startswith("application/json"):
        return _response_object(await response.aread())
    if not content_type.startswith("text/event-stream"):
        raise MCPError(types.INVALID_REQUEST, f"Unexpected content type: {content_type}")
    async for event in httpx2.EventSource(response):
        if event.event != "message" or not event.data:
            continue  # a priming event (resumability): nothing to relay
        message = _response_object(event.data)
        if "result" in message or "error" in message:
            return message
        await _relay(message, on_message)
    # The SDK's transport would resume a stream that carried event ids; this path does not.
    raise ConnectionError("the upstream closed the answer's stream before the answer")


def _response_object(text: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise MCPError(types.PARSE_ERROR, f"Failed to parse upstream message: {exc}") from None
    if not isinstance(message, dict):
        raise MCPError(types.PARSE_ERROR, "upstream message is not a JSON object")
    return message


async def _relay(message: dict[str, Any], on_message: Any) -> None:
    """A notification on the answer's stream: to the link's message callback, as the SDK would
    pass it; a request (which 2026-07-28 has no room for mid-call) is refused loudly."""
    if "id" in message:
        raise MCPError(
            types.INTERNAL_ERROR,
            f"upstream sent a {message.get('method')!r} request during tools/call",
        )
    if on_message is None:
        return
    try:
        notification = types.server_notification_adapter.validate_python(message, by_name=False)
    except (ValidationError, AttributeError):
        return
    await on_message(notification)
