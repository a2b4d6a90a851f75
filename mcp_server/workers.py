"""``gate mcp --workers N``: each handshake-era session is served by the worker that holds it.

The kernel spreads connections over the workers (``SO_REUSEPORT``, serving.workers), but a
handshake-era client session (``Mcp-Session-Id``) lives in the one process that answered its
``initialize``, and one client opens several connections (its standalone GET stream, concurrent
POSTs).  So every worker also listens on a Unix socket of its own, ``<pid>.sock`` in a directory the
workers share, and prefixes the session ids it hands out with its pid; a request for another
worker's session is passed over that worker's socket, streamed both ways, with the client's
address in a private header that a worker believes only on its own Unix socket (the directory is
the first process's, mode 0700).  A session whose worker is gone answers 404, so its client opens a
new one.  2026-07-28 requests carry no session: the worker the kernel picked serves them.  Passes,
budgets and challenges live in the shared store, so any worker honours a pass another one minted.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import httpx2

__all__ = ["PEER_HEADER", "SessionRouter"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SESSION_HEADER = b"mcp-session-id"
PEER_HEADER = b"x-reasoning-gate-peer"  # "host:port" of the client, from a sibling worker only
# Per connection, not per request: they stay with the hop they belong to.
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade"}
)
_STAMPED = frozenset({b"date", b"server"})  # this worker's uvicorn adds its own


class SessionRouter:
    """ASGI middleware in front of the MCP app of one worker of a group sharing ``peers``."""

    def __init__(self, app: Any, peers: Path) -> None:
        self.app = app
        self.peers = peers
        self.tag = str(os.getpid()).encode()
        self.socket_path = str(peers / f"{os.getpid()}.sock")
        self._siblings: dict[bytes, httpx2.AsyncClient] = {}

    def listen(self) -> socket.socket:
        """This worker's Unix socket, bound (a stale file of a dead pid is replaced)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.socket_path)  # listened on by uvicorn, with the port
        return sock

    async def aclose(self) -> None:
        for client in self._siblings.values():
            await client.aclose()
        self._siblings.clear()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # uvicorn reports a Unix socket as the server (path, None); a TCP one has a port.
        from_sibling = scope.get("server") == (self.socket_path, None)
        peer: bytes | None = None
        session: bytes | None = None
        headers: list[tuple[bytes, bytes]] = []
        for name, value in scope["headers"]:
            if name == PEER_HEADER:
                peer = value
            elif name == SESSION_HEADER:
                session = value
            else:
                headers.append((name, value))
        if session is not None:
            owner, dash, local = session.partition(b"-")
            theirs = dash and owner != self.tag and owner.isdigit() and not from_sibling
            if theirs and await self._pass_on(owner, scope, receive, send):
                return
            # Ours: the SDK knows it without the prefix.  Anything else it answers with 404.
            headers.append((SESSION_HEADER, local if dash and owner == self.tag else session))
        scope = {**scope, "headers": headers}
        if from_sibling and peer is not None:
            host, _, port = peer.decode("latin-1").rpartition(":")
            scope["client"] = (host, int(port)) if port.isdigit() else None

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        (name, self.tag + b"-" + value if name.lower() == SESSION_HEADER else value)
                        for name, value in message.get("headers", ())
                    ],
                }
            await send(message)

        await self.app(scope, receive, stamped)

    def _sibling(self, owner: bytes) -> httpx2.AsyncClient | None:
        client = self._siblings.get(owner)
        if client is None:
            path = self.peers / f"{owner.decode()}.sock"
            if not path.exists():
                return None
            transport = httpx2.AsyncHTTPTransport(uds=str(path))
            # No timeout: a standalone GET stream stays open for as long as its client keeps it.
            client = httpx2.AsyncClient(transport=transport, timeout=None)
            self._siblings[owner] = client
        return client

    async def _pass_on(self, owner: bytes, scope: Scope, receive: Receive, send: Send) -> bool:
        """Stream the request to the worker ``owner`` and its answer back; False when that worker
        is gone (the caller answers: its session is not found)."""
        client = self._sibling(owner)
        if client is None:
            return False
        body = bytearray()
        while True:  # MCP requests are one JSON message each (the SDK caps them at 4 MiB)
            message = await receive()
            if message["type"] == "http.disconnect":
                return True
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name not in _HOP_BY_HOP and name not in (PEER_HEADER, b"content-length")
        ]
        if scope.get("client"):
            host, port = scope["client"]
            headers.append((PEER_HEADER, f"{host}:{port}".encode("latin-1")))
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        request = client.build_request(
            scope["method"], "http://worker" + target.decode("latin-1"), headers=headers,
            content=bytes(body),
        )  # fmt: skip
        try:
            response = await client.send(request, stream=True)
        except httpx2.HTTPError:
            self._siblings.pop(owner, None)
            await client.aclose()
            return False
        async with anyio.create_task_group() as tasks:

            async def until_disconnect() -> None:  # the client left: stop relaying its stream
                while (await receive())["type"] != "http.disconnect":
                    pass
                tasks.cancel_scope.cancel()

            tasks.start_soon(until_disconnect)
            try:
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": [
                            (name, value)
                            for name, value in response.headers.raw
                            if name.lower() not in _HOP_BY_HOP | _STAMPED
                        ],
                    }
                )
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            except httpx2.HTTPError:
                pass  # the sibling went away mid-answer: the client sees the stream end
            finally:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
                tasks.cancel_scope.cancel()
        return True
