"""Serving the gateway: on stdio, or on streamable HTTP in one process or several.

Every start-up failure (upstream unreachable, bad store, port in use) is one ``GatewayError``
with one line for people, never a group of exceptions or a traceback.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.lowlevel import Server

from mcp_server.gateway import open_gateway
from mcp_server.upstream import GatewayError, UpstreamSpec, find_gateway_error

if TYPE_CHECKING:
    from gate.config import GateConfig
    from gate.rules import Rule

__all__ = ["bind", "log_to_stderr", "serve_gateway", "transport_security"]

FrontTransport = str  # "http" or "stdio"


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
    peers: Path | None = None,
) -> None:
    """Serve the gateway until cancelled.  ``ready`` gets a one-line description once it serves.
    ``peers``: this process is one worker of ``--workers`` (streamable HTTP only): it shares the
    port with its siblings and routes sessions through that directory (``workers.py``).
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
            peers=peers,
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
    peers: Path | None,
) -> None:
    sock = bind(host, port, reuse_port=peers is not None) if transport == "http" else None
    gateway = open_gateway(upstream, rules=rules, config=config, allow_unlisted=allow_unlisted)
    try:
        async with gateway as server:
            front = _Listener(upstream, host, port, path, allowed_hosts, ready, peers)
            await front.run(server, sock, transport)
    finally:
        if sock is not None:
            sock.close()


class _Listener:
    """Where and how the front listens, once the gateway is open."""

    def __init__(
        self,
        upstream: UpstreamSpec,
        host: str,
        port: int,
        path: str,
        allowed_hosts: Sequence[str],
        ready: Callable[[str], None] | None,
        peers: Path | None,
    ) -> None:
        self.upstream, self.host, self.port, self.path = upstream, host, port, path
        self.allowed_hosts, self.ready, self.peers = allowed_hosts, ready, peers

    async def run(
        self, server: Server[Any], sock: socket.socket | None, transport: FrontTransport
    ) -> None:
        ready = self.ready
        if transport == "stdio":
            from mcp.server.stdio import stdio_server

            async with stdio_server() as (read, write):
                if ready is not None:
                    ready(f"serving {self.upstream.label} on stdio")
                await server.run(read, write, server.create_initialization_options())
            return
        app = server.streamable_http_app(
            streamable_http_path=self.path,
            transport_security=transport_security(self.host, self.allowed_hosts),
            host=self.host,
            # SSE (the default), not json_response: a legacy client's elicitation travels on
            # the request's own stream; JSON responses would cut it off.
        )
        where = f"http://{self.host}:{self.port}{self.path}"

        def announce() -> None:
            if ready is not None:
                worker = f" (worker pid {os.getpid()})" if self.peers is not None else ""
                ready(f"serving {self.upstream.label} on {where}{worker}")

        assert sock is not None
        if self.peers is None:
            await _serve_http(app, [sock], self.host, self.port, announce)
            return
        from mcp_server.workers import SessionRouter

        router = SessionRouter(app, self.peers)
        try:
            own = router.listen()
        except OSError as exc:
            sock.close()
            raise GatewayError(f"cannot listen on {router.socket_path}: {exc.strerror}") from None
        try:
            await _serve_http(router, [sock, own], self.host, self.port, announce)
        finally:
            with anyio.CancelScope(shield=True):
                await router.aclose()


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """The socket, bound before anything else starts: a port in use is one line (uvicorn would
    log its own error first, then exit).  It listens once the gateway serves, so a client that
    comes early is refused rather than kept waiting.  ``reuse_port``: shared with the other
    workers of ``--workers``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _name, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise GatewayError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise GatewayError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


async def _serve_http(
    app: Any, socks: list[socket.socket], host: str, port: int, on_ready: Callable[[], None]
) -> None:
    """Serve on the bound ``socks`` through the gate's one server runner."""
    from serving.runner import ServeError, serve

    try:
        await serve(
            app,
            host,
            port,
            sockets=socks,
            ready=on_ready,
            # After SIGTERM the clean-up still runs: the first of --workers stops the others.
            survive_signals=True,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,  # open SSE streams must not hold the exit
        )
    except ServeError as exc:
        raise GatewayError(str(exc)) from None
    finally:
        for sock in socks:
            sock.close()


def log_to_stderr(level: int = logging.INFO) -> None:
    """Logs go to stderr: on the stdio front, stdout carries nothing but MCP."""
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
