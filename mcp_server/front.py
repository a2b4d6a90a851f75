"""Serving the gateway: on stdio, or on streamable HTTP in one process or several.

Every start-up failure (upstream unreachable, bad store, port in use) is one ``GatewayError``
with one line for people, never a group of exceptions or a traceback.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

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
