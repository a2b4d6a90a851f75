"""``ReverseProxy``: put any website behind the gate (``gate proxy --upstream URL``).

    app = proxy_app("http://127.0.0.1:8080", gatekeeper)   # GateMiddleware(ReverseProxy(...))

A pure ASGI app that forwards each request to one upstream through ``httpx2``:

- Bodies stream both ways (``receive`` -> async generator -> httpx; ``aiter_raw`` -> ``send``); only
  responses with a small declared length are read whole.  Request bodies are capped (``max_body``):
  413 from ``Content-Length`` before connecting, or as soon as a streamed body passes the cap.
- Hop-by-hop headers (``Connection`` and the names it lists, ``Keep-Alive``, ``Proxy-*``, ``TE``,
  ``Trailer``, ``Transfer-Encoding``, ``Upgrade``) are dropped both ways.
- Forwarding headers are the proxy's own: every client-supplied ``X-Forwarded-*``, ``Forwarded``,
  ``X-Real-IP``, ``X-Original-URI``/``-URL`` and ``X-Rewrite-URL`` is dropped, then
  ``X-Forwarded-For`` is set to the one client address the gate resolved (trusting forwarding headers
  only from ``trusted_proxies``), with ``X-Forwarded-Proto`` and ``X-Forwarded-Host``.  The upstream
  therefore needs to trust only this proxy and read a single value.
- The request target is ``raw_path`` + query exactly as received.  A path that could be read two ways
  (dot segments, ``//``, backslashes, control characters, percent-encoded ``.``, ``/``, ``\\`` or
  ``%``) is refused with 400: the gate priced the decoded, normalised path, and an upstream that
  decodes or resolves differently must never be reached with a different one.
- Redirects stay on the site: a ``Location`` on the upstream's origin is rewritten to a path on
  the proxy's; relative ones pass; any other origin answers 502 (``offsite_redirect``) unless listed in
  ``allowed_redirect_origins`` (say, the site's single sign-on).  Passing it on would let the upstream
  send paying clients anywhere; a redirect without its ``Location`` would be a broken page.
- Upstream timeouts answer 504, connection and protocol errors 502, each as a short page in the
  flavour ``Accept`` asks for.  Failures after the response has started cannot change its status:
  the connection is closed instead, so the client sees a truncated response, never a complete one.
- WebSockets pass through (``websockets`` client).  The gate in front already refuses handshakes
  without a pass; the proxy only relays frames and close codes.

The httpx client's lifetime follows the ASGI lifespan (closed on shutdown) or ``aclose()``.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from gate.errors import AmbiguousPath, ConfigError, UnreadableForwarding
from gate.gatekeeper import Gatekeeper
from gate.identity import UNKNOWN, IPNetwork, client_address, forwarded_scheme
from gate.paths import check_target
from middleware.asgi import BUDGET_HEADER, GateMiddleware
from middleware.negotiate import negotiate
from middleware.redirects import safe_next
from middleware.render import message_response

log = logging.getLogger("reasoning_gate.proxy")

__all__ = [
    "CLIENT_ADDRESS_KEY",
    "DEFAULT_MAX_BODY",
    "DEFAULT_TIMEOUT",
    "ReverseProxy",
    "proxy_app",
]

DEFAULT_MAX_BODY = 10 * 1024 * 1024
DEFAULT_TIMEOUT = httpx2.Timeout(30.0, connect=5.0)
# An ASGI scope key a gate in front may set to the client address it resolved; when absent the proxy
# resolves it itself with the same rule (``gate.identity.client_address``) and trusted proxies.
CLIENT_ADDRESS_KEY = "reasoning_gate.client_address"
# Responses declaring at most this many bytes are read whole and sent in one message: cheaper than
# streaming, and still bounded.
SMALL_RESPONSE = 64 * 1024

_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
)
# Headers only this proxy may write, or that an upstream framework may believe over the request
# itself: a client's copy is a spoofing attempt or stale.  Client-address headers of CDNs and
# load balancers (the upstream would take them for the client), and URL-override headers (the
# upstream would route to another path than the one the gate priced).
CLIENT_ADDRESS_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-real-ip",
        b"x-client-ip",
        b"true-client-ip",
        b"cf-connecting-ip",
        b"cf-connecting-ipv6",
        b"cf-pseudo-ipv4",
        b"x-cluster-client-ip",
        b"fastly-client-ip",
        b"akamai-client-ip",
        b"x-appengine-user-ip",
        b"x-azure-clientip",
        b"x-azure-socketip",
        b"x-envoy-external-address",
        b"x-original-forwarded-for",
        b"x-originating-ip",
        b"x-remote-ip",
        b"x-remote-addr",
        b"x-host",
        b"x-original-host",
    }
)
URL_OVERRIDE_HEADERS = frozenset(
    {
        b"x-original-uri",
        b"x-original-url",
        b"x-original-path",
        b"x-envoy-original-path",
        b"x-envoy-original-url",
        b"x-rewrite-url",
        b"x-rewrite-path",
        b"x-override-url",
        b"x-http-path-override",
        b"x-http-method-override",
        b"x-http-method",
        b"x-method-override",
        b"x-request-uri",
        b"x-original-request-uri",
        b"request-uri",
        b"x-proxy-url",
        b"x-destination-url",
        b"x-forwarded-uri",
        b"x-forwarded-path",
        b"x-forwarded-prefix",
    }
)
_CLIENT_FORWARDING = CLIENT_ADDRESS_HEADERS | URL_OVERRIDE_HEADERS
# httpx sets Host from the upstream URL; Expect is answered by the ASGI server itself.
_REQUEST_ONLY = frozenset({b"host", b"expect"})
_WEBSOCKET_HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
    }
)
_BUDGET = BUDGET_HEADER.lower().encode()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class ReverseProxy:
    """Forward HTTP and WebSocket requests to ``upstream`` (``http[s]://host[:port][/base]``).

    Pass ``client`` to share an ``httpx2.AsyncClient`` (its lifetime stays the caller's), or
    ``transport`` (``httpx2.MockTransport`` in unit tests) for a client this proxy owns.  ``timeout``
    applies to every upstream request whatever client is used.
    """

    def __init__(
        self,
        upstream: str,
        *,
        client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout: httpx2.Timeout | float = DEFAULT_TIMEOUT,
        max_body: int = DEFAULT_MAX_BODY,
        trusted_proxies: Sequence[IPNetwork] = (),
        allowed_redirect_origins: Iterable[str] = (),
        max_connections: int = 256,
        websocket_max_message: int = 16 * 1024 * 1024,
    ) -> None:
        self.upstream = _parse_upstream(upstream)
        self._origin = _origin(self.upstream.scheme, self.upstream.host, self.upstream.port)
        self._base_path = self.upstream.raw_path.rstrip(b"/")
        ws_scheme = "wss" if self.upstream.scheme == "https" else "ws"
        self._ws_origin = f"{ws_scheme}://{self.upstream.netloc.decode('ascii')}"
        self.timeout = timeout if isinstance(timeout, httpx2.Timeout) else httpx2.Timeout(timeout)
        self._timeout_extension = self.timeout.as_dict()
        if max_body < 0:
            raise ConfigError(f"max_body must not be negative, got {max_body}")
        self.max_body = max_body
        self.trusted_proxies = tuple(trusted_proxies)
        self.allowed_origins = frozenset(
            _parse_origin(origin) for origin in allowed_redirect_origins
        )
        self.websocket_max_message = websocket_max_message
        if client is not None and transport is not None:
            raise ConfigError("give a client or a transport, not both")
        self._owns_client = client is None
        self.client = client or httpx2.AsyncClient(
            transport=transport
            or httpx2.AsyncHTTPTransport(
                limits=httpx2.Limits(
                    max_connections=max_connections, max_keepalive_connections=max_connections
                )
            ),
            timeout=self.timeout,
            follow_redirects=False,  # redirects are the client's to follow, through the gate
            trust_env=False,  # an operator's HTTP_PROXY is not the route to the upstream
        )
        # Many requests come from few clients: parse each (peer, chain) pair once.
        self._client_address = functools.lru_cache(maxsize=65_536)(self._resolve_client)
        self._trusted_peer = functools.lru_cache(maxsize=4_096)(self._is_trusted)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # -- HTTP ------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self._target(scope)
        if target is None:
            await self._page(scope, receive, send, 400, "ambiguous_path")
            return
        try:
            headers, declared, chunked = self._request_headers(scope)
        except UnreadableForwarding:
            await self._page(scope, receive, send, 400, "unreadable_forwarding")
            return
        if declared is not None and declared > self.max_body:
            await self._page(scope, receive, send, 413, "body_too_large")
            return
        has_body = (declared is not None and declared > 0) or chunked
        request = httpx2.Request(
            scope["method"],
            self.upstream.copy_with(raw_path=self._base_path + target),
            headers=headers,
            content=_request_body(receive, self.max_body) if has_body else None,
            extensions={"timeout": self._timeout_extension},
        )
        try:
            response = await self.client.send(request, stream=True)
        except _BodyTooLarge:
            await self._page(scope, receive, send, 413, "body_too_large")
            return
        except _ClientGone:
            return  # nobody is left to answer
        except httpx2.TimeoutException as exc:
            log.warning("upstream timeout on %s %s: %r", scope["method"], scope["path"], exc)
            await self._page(scope, receive, send, 504, "upstream_timeout")
            return
        except httpx2.HTTPError as exc:  # connect, read, write and protocol errors
            log.warning("upstream failure on %s %s: %r", scope["method"], scope["path"], exc)
            await self._page(scope, receive, send, 502, "upstream_unreachable")
            return
        except (
            httpx2.InvalidURL
        ) as exc:  # httpx parses a redirect's Location even when not following
            log.warning("upstream redirected %s %s badly: %r", scope["method"], scope["path"], exc)
            await self._page(scope, receive, send, 502, "offsite_redirect")
            return
        try:
            await self._relay(scope, receive, send, response)
        finally:
            await response.aclose()

    async def _relay(
        self, scope: Scope, receive: Receive, send: Send, response: httpx2.Response
    ) -> None:
        headers = self._response_headers(response)
        if headers is None:
            log.warning(
                "upstream redirected %s %s off-site to %r",
                scope["method"],
                scope["path"],
                response.headers.get("location"),
            )
            await self._page(scope, receive, send, 502, "offsite_redirect")
            return
        length = response.headers.get("content-length", "")
        small = length.isdigit() and int(length) <= SMALL_RESPONSE
        if small:
            # Bounded by SMALL_RESPONSE: one ASGI message instead of a stream.
            try:
                body = b"".join([chunk async for chunk in _raw_chunks(response)])
            except httpx2.TimeoutException as exc:
                log.warning("upstream timeout on %s %s: %r", scope["method"], scope["path"], exc)
                await self._page(scope, receive, send, 504, "upstream_timeout")
                return
            except httpx2.HTTPError as exc:
                log.warning("upstream failure on %s %s: %r", scope["method"], scope["path"], exc)
                await self._page(scope, receive, send, 502, "upstream_unreachable")
                return
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})
            return
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        # A long download must stop when its client leaves: the ASGI server tells through receive.
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            try:
                async for chunk in _raw_chunks(response):
                    if chunk:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx2.HTTPError as exc:
                # Too late for an error page: leaving the response incomplete makes the server
                # close the connection, so the client cannot mistake it for a whole body.
                log.warning(
                    "upstream failed mid-response on %s %s: %r", scope["method"], scope["path"], exc
                )
                group.cancel_scope.cancel()
                return
            await send({"type": "http.response.body", "body": b""})
            group.cancel_scope.cancel()

    # -- headers and target ----------------------------------------------------------------------

    def _target(self, scope: Scope) -> bytes | None:
        """``raw_path`` + query as received, or None when the path could be read two ways
        (``gate.paths.check_target``; the gate in front refuses those before charging)."""
        try:
            raw = check_target(scope.get("raw_path"), scope["path"])
        except AmbiguousPath:
            return None
        query: bytes = scope.get("query_string", b"")
        return raw + b"?" + query if query else raw

    def _resolve_client(self, peer: str | None, chain: tuple[str, ...]) -> str:
        return client_address(peer, chain, self.trusted_proxies)

    def _is_trusted(self, peer: str | None) -> bool:
        if peer is None or not self.trusted_proxies:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)

    def _request_headers(self, scope: Scope) -> tuple[list[tuple[bytes, bytes]], int | None, bool]:
        """Headers to forward, the declared body length and whether the body is chunked."""
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        named = _connection_named(raw_headers)
        kept: list[tuple[bytes, bytes]] = []
        chain: list[str] = []
        protos: list[str] = []
        forwarded_hosts: list[str] = []
        host: bytes | None = None
        declared: int | None = None
        chunked = False
        for name, value in raw_headers:
            if name == b"x-forwarded-for":
                chain.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                protos.append(value.decode("latin-1"))
            elif name == b"x-forwarded-host":
                forwarded_hosts.append(value.decode("latin-1"))
            elif name == b"host":
                host = value
            elif name == b"content-length":
                text = value.strip()
                declared = int(text) if text.isdigit() else -1
                kept.append((name, value))
                continue
            elif name == b"transfer-encoding":
                chunked = True
            if (
                name in _HOP_BY_HOP
                or name in _CLIENT_FORWARDING
                or name in _REQUEST_ONLY
                or name in named
                or name.startswith((b"proxy-", b"x-forwarded-"))
                or (scope["type"] == "websocket" and name in _WEBSOCKET_HANDSHAKE)
            ):
                continue
            kept.append((name, value))
        if declared == -1:  # unreadable length: the ASGI server normally refuses it first
            declared = self.max_body + 1
        client = scope.get("client")
        peer = client[0] if client else None
        address = scope.get(CLIENT_ADDRESS_KEY) or self._client_address(peer, tuple(chain))
        if address != UNKNOWN:
            kept.append((b"x-forwarded-for", address.encode("latin-1")))
        scheme = forwarded_scheme(peer, protos, self.trusted_proxies) or _http_scheme(scope)
        kept.append((b"x-forwarded-proto", scheme.encode()))
        if forwarded_hosts and self._trusted_peer(peer):
            # A trusted proxy in front knows the host the client asked for.
            kept.append((b"x-forwarded-host", forwarded_hosts[-1].split(",")[-1].strip().encode()))
        elif host is not None:
            kept.append((b"x-forwarded-host", host))
        return kept, declared, chunked

    def _response_headers(self, response: httpx2.Response) -> list[tuple[bytes, bytes]] | None:
        """Headers to send back, with ``Location`` kept on this site; None for an off-site one."""
        raw_headers = response.headers.raw
        named = _connection_named(raw_headers)
        kept: list[tuple[bytes, bytes]] = []
        for raw_name, value in raw_headers:
            name = raw_name.lower()
            if (
                name in _HOP_BY_HOP
                or name in named
                or name.startswith(b"proxy-")
                or name == _BUDGET  # only the gate in front reports budgets
            ):
                continue
            if name == b"location":
                location = self._location(value.decode("latin-1"))
                if location is None:
                    return None
                value = location.encode("latin-1")
            kept.append((name, value))
        return kept

    def _location(self, location: str) -> str | None:
        """The same-site form of an upstream ``Location``, or None when it leaves the site."""
        location = location.strip()
        if _CONTROL.search(location) or "\\" in location:
            return None
        parts = urlsplit(location)
        if not parts.scheme and not parts.netloc:
            if location.startswith("/"):
                return safe_next(location, default="") or None  # refuses '//host' and '/\host'
            return location  # relative to the current URL: same site
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        try:
            origin = _origin(parts.scheme, parts.hostname, parts.port)
        except ValueError:  # a port out of range
            return None
        if origin in self.allowed_origins:
            return location
        if origin != self._origin:
            return None
        path = parts.path or "/"
        base = self._base_path.decode("latin-1")
        if base:  # the upstream lives under a base path: the client sees the path without it
            if path != base and not path.startswith(base + "/"):
                return None
            path = path[len(base) :] or "/"
        rewritten = path + (f"?{parts.query}" if parts.query else "")
        rewritten += f"#{parts.fragment}" if parts.fragment else ""
        return safe_next(rewritten, default="") or None

    async def _page(
        self, scope: Scope, receive: Receive, send: Send, status: int, error: str
    ) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1011 if status >= 500 else 1008})
            return
        accept = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"accept"), None)
        title, message = _PAGES[error]
        if error == "body_too_large":
            message = message.format(limit=self.max_body)
        response: Response = message_response(
            status, title, message, flavor=negotiate(accept), error=error
        )
        if status == 413:
            response.headers["Connection"] = "close"  # the unread rest of the body is not wanted
        await response(scope, receive, send)

    # -- WebSocket -------------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, WebSocketException

        if (await receive())["type"] != "websocket.connect":
            return
        target = self._target(scope)
        if target is None:
            await send({"type": "websocket.close", "code": 1008})
            return
        try:
            headers, _, _ = self._request_headers(scope)
        except UnreadableForwarding:
            await send({"type": "websocket.close", "code": 1008})
            return
        try:
            upstream = await connect(
                self._ws_origin + (self._base_path + target).decode("ascii"),
                additional_headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers],
                subprotocols=scope.get("subprotocols") or None,
                open_timeout=self.timeout.connect,
                max_size=self.websocket_max_message,
                compression=None,  # frames are relayed as they are; no need to inflate them
                user_agent_header=None,  # the client's own User-Agent is forwarded
                proxy=None,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.warning("upstream WebSocket refused %s: %r", scope["path"], exc)
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

    # -- lifespan --------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def proxy_app(
    upstream: str,
    gatekeeper: Gatekeeper,
    *,
    client: httpx2.AsyncClient | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    timeout: httpx2.Timeout | float = DEFAULT_TIMEOUT,
    max_body: int = DEFAULT_MAX_BODY,
    allowed_redirect_origins: Iterable[str] = (),
    **gate_options: Any,
) -> GateMiddleware:
    """``GateMiddleware(ReverseProxy(upstream), gatekeeper)``: the gate decides, the proxy forwards.

    The proxy trusts the same proxies as the gate, so both read one client address.  Its httpx
    client closes on ASGI lifespan shutdown; servers run without lifespan call
    ``app.app.aclose()``.
    """
    proxy = ReverseProxy(
        upstream,
        client=client,
        transport=transport,
        timeout=timeout,
        max_body=max_body,
        trusted_proxies=gatekeeper.settings.trusted_proxies,
        allowed_redirect_origins=allowed_redirect_origins,
    )
    # The proxy hands the raw target on: the gate refuses one the upstream could read as another
    # path before it charges anything for it.
    return GateMiddleware(proxy, gatekeeper, raw_target=True, **gate_options)


# -- helpers ---------------------------------------------------------------------------------------

_PAGES = {
    "ambiguous_path": (
        "Bad request",
        "This path can be read more than one way (dot segments, '//', backslashes or encoded "
        "'.', '/', '\\' or '%'). Request its plain form.",
    ),
    "unreadable_forwarding": (
        "Bad request",
        "A proxy in front of the gate sent an X-Forwarded-For chain that does not parse.",
    ),
    "body_too_large": ("Too large", "Request bodies must fit in {limit} bytes."),
    "upstream_timeout": (
        "Gateway timeout",
        "The site behind this gate did not answer in time. Retry later.",
    ),
    "upstream_unreachable": (
        "Bad gateway",
        "The site behind this gate could not be reached or answered badly. Retry later.",
    ),
    "offsite_redirect": (
        "Bad gateway",
        "The site behind this gate tried to redirect to another site; this gate only "
        "redirects within the site.",
    ),
}


async def _request_body(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _raw_chunks(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The body as the upstream sent it (no content decoding).  A response built from bytes (a
    ``MockTransport`` handler's) arrives already read: it has nothing left to stream."""
    if response.is_stream_consumed:
        yield response.content
        return
    async for chunk in response.aiter_raw():
        yield chunk


def _connection_named(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Header names listed in ``Connection``: hop-by-hop for this connection only (RFC 9110 7.6.1)."""
    names: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            names.update(token.strip().lower() for token in value.split(b",") if token.strip())
    return frozenset(names)


def _http_scheme(scope: Scope) -> str:
    scheme = str(scope.get("scheme", "http"))
    return {"ws": "http", "wss": "https"}.get(scheme, scheme)


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    default = 443 if scheme == "https" else 80
    return scheme, host.lower().rstrip("."), port or default


def _parse_origin(text: str) -> tuple[str, str, int]:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"redirect origin must be http(s)://host[:port], got {text!r}")
    return _origin(parts.scheme, parts.hostname, parts.port)


def _parse_upstream(text: str) -> httpx2.URL:
    try:
        url = httpx2.URL(text)
    except httpx2.InvalidURL as exc:
        raise ConfigError(f"upstream URL {text!r} is invalid: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"upstream must be an http(s)://host[:port][/path] URL, got {text!r}")
    if url.query or url.fragment or url.userinfo:
        raise ConfigError(f"upstream URL must not carry a query, fragment or credentials: {text!r}")
    return url


def _sendable(code: int) -> int:
    """Close codes 1005/1006/1015 describe a connection and may not be sent in a close frame."""
    return 1000 if code in (1005, 1006, 1015) or not 1000 <= code <= 4999 else code
