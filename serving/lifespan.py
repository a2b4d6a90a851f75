"""The ASGI lifespan protocol for apps that own resources to start and stop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import Receive, Send


async def run_lifespan(
    receive: Receive,
    send: Send,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
) -> None:
    """Answer lifespan messages: ``start`` on startup (a failure is reported, not raised, so the
    server refuses to start with its message), ``stop`` on shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await start()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await stop()
            await send({"type": "lifespan.shutdown.complete"})
            return
