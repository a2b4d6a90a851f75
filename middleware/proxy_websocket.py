"""Relaying one WebSocket between the ASGI client and the upstream (``websockets`` client).

The gate in front already refused a handshake without a pass; the relay only carries frames both
ways, as they are (no compression to undo), and the close codes, until either side closes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import anyio
from starlette.types import Receive, Send

__all__ = ["relay_websocket"]

log = logging.getLogger("reasoning_gate.proxy")


async def relay_websocket(
    receive: Receive,
    send: Send,
    *,
    url: str,
    headers: Sequence[tuple[bytes, bytes]],
    subprotocols: Sequence[str] | None,
    open_timeout: float | None,
    max_message: int,
) -> None:
    """Open ``url`` with ``headers`` and relay until one side closes; an upstream that refuses
    the handshake closes the client's socket with 1011."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, WebSocketException
    from websockets.typing import Subprotocol

    try:
        upstream = await connect(
            url,
            additional_headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers],
            subprotocols=[Subprotocol(name) for name in subprotocols or ()] or None,
            open_timeout=open_timeout,
            max_size=max_message,
            compression=None,  # frames are relayed as they are; no need to inflate them
            user_agent_header=None,  # the client's own User-Agent is forwarded
            proxy=None,
        )
    except (OSError, TimeoutError, WebSocketException) as exc:
        log.warning("upstream WebSocket refused %s: %r", url, exc)
        await send({"type": "websocket.close", "code": 1011})
        return
    async with upstream:
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        async with anyio.create_task_group() as group:

            async def client_to_upstream() -> None:
                try:
                    while True:
                        message = await receive()
                        if message["type"] == "websocket.disconnect":
                            await upstream.close(_sendable(message.get("code", 1000)))
                            break
                        if message.get("bytes") is not None:
                            await upstream.send(message["bytes"])
                        elif message.get("text") is not None:
                            await upstream.send(message["text"])
                except ConnectionClosed:
                    pass
                group.cancel_scope.cancel()

            async def upstream_to_client() -> None:
                try:
                    async for data in upstream:
                        key = "bytes" if isinstance(data, bytes) else "text"
                        await send({"type": "websocket.send", key: data})
                except ConnectionClosed:
                    pass
                code = _sendable(upstream.close_code or 1000)
                # The client may have gone already: then there is nothing to tell it.
                with contextlib.suppress(Exception):
                    await send(
                        {
                            "type": "websocket.close",
                            "code": code,
                            "reason": upstream.close_reason or "",
                        }
                    )
                group.cancel_scope.cancel()

            group.start_soon(client_to_upstream)
            group.start_soon(upstream_to_client)


def _sendable(code: int) -> int:
    """Close codes 1005/1006/1015 describe a connection and may not be sent in a close frame."""
    return 1000 if code in (1005, 1006, 1015) or not 1000 <= code <= 4999 else code
