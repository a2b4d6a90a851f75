"""``ReverseProxy``: put any website behind the gate (``gate proxy --upstream URL``).

    app = proxy_app("http://127.0.0.1:8080", gatekeeper)   # GateMiddleware(ReverseProxy(...))

A pure ASGI app that forwards each request to one upstream through ``httpx2``:

- Bodies stream both ways (``receive`` -> async generator -> httpx; ``aiter_raw`` -> ``send``); only
  responses with a small declared length are read whole.  Request bodies are capped (``max_body``):
  413 from ``Content-Length`` before connecting, or as soon as a streamed body passes the cap.
- Headers: hop-by-hop ones are dropped both ways, and the forwarding headers are the proxy's own
  (``middleware.forwarding``).
- The request target is ``raw_path`` + query exactly as received.  A path that could be read two ways
  (dot segments, ``//``, backslashes, control characters, percent-encoded ``.``, ``/``, ``\\`` or
  ``%``) is refused with 400: the gate priced the decoded, normalised path, and an upstream that
  decodes or resolves differently must never be reached with a different one.
- Redirects stay on the site (``middleware.upstream``): an off-site ``Location`` answers 502
  (``offsite_redirect``); passing it on without its ``Location`` would be a broken page.
- Upstream timeouts answer 504, connection and protocol errors 502, each as a short page in the
  flavour ``Accept`` asks for.  Failures after the response has started cannot change its status:
  the connection is closed instead, so the client sees a truncated response, never a complete one.
- WebSockets pass through (``middleware.proxy_websocket``).

The httpx client's lifetime follows the ASGI lifespan (closed on shutdown) or ``aclose()``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import anyio
import httpx2
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from gate.errors import AmbiguousPath, ConfigError, UnreadableForwarding
from gate.gatekeeper import Gatekeeper
from gate.identity import IPNetwork
from gate.paths import check_target
from middleware.asgi import GateMiddleware
from middleware.forwarding import CLIENT_ADDRESS_KEY, Forwarding, response_headers
from middleware.negotiate import negotiate
from middleware.proxy_websocket import relay_websocket
from middleware.render import message_response
from middleware.upstream import Upstream

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
# Responses declaring at most this many bytes are read whole and sent in one message: cheaper than
# streaming, and still bounded.
SMALL_RESPONSE = 64 * 1024


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
        self._site = Upstream(upstream, allowed_redirect_origins)
        self.upstream = self._site.url
        self._base_path = self._site.base_path
        self.timeout = timeout if isinstance(timeout, httpx2.Timeout) else httpx2.Timeout(timeout)
        self._timeout_extension = self.timeout.as_dict()
        if max_body < 0:
            raise ConfigError(f"max_body must not be negative, got {max_body}")
        self.max_body = max_body
        self.trusted_proxies = tuple(trusted_proxies)
        self._forwarding = Forwarding(self.trusted_proxies, max_body)
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
            headers, declared, chunked = self._forwarding.request_headers(scope)
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
        headers = response_headers(response, self._site.location)
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

    # -- target ----------------------------------------------------------------------

    def _target(self, scope: Scope) -> bytes | None:
        """``raw_path`` + query as received, or None when the path could be read two ways
        (``gate.paths.check_target``; the gate in front refuses those before charging)."""
        try:
            raw = check_target(scope.get("raw_path"), scope["path"])
        except AmbiguousPath:
            return None
        query: bytes = scope.get("query_string", b"")
        return raw + b"?" + query if query else raw

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
        if (await receive())["type"] != "websocket.connect":
            return
        target = self._target(scope)
        if target is None:
            await send({"type": "websocket.close", "code": 1008})
            return
        try:
            headers, _, _ = self._forwarding.request_headers(scope)
        except UnreadableForwarding:
            await send({"type": "websocket.close", "code": 1008})
            return
        await relay_websocket(
            receive,
            send,
            url=self._site.ws_origin + (self._base_path + target).decode("ascii"),
            headers=headers,
            subprotocols=scope.get("subprotocols"),
            open_timeout=self.timeout.connect,
            max_message=self.websocket_max_message,
        )

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
