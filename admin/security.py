"""Response headers every dashboard answer carries, and the same-origin check for writes.

The CSP allows scripts and styles from the dashboard itself only (no inline code), so an escaping
mistake cannot run script; pages are never framed (clickjacking) and never cached (answers and
ledgers must not linger in shared caches).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gate.identity import IPNetwork, forwarded_scheme

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Pure ASGI: adds the headers above; static files may be cached, nothing else."""

    def __init__(self, app: ASGIApp, static_prefix: str = "/static/") -> None:
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        cacheable = path.startswith(self.static_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if cacheable or name.lower() != b"cache-control"
                ]
                headers += _HEADERS
                if not cacheable:
                    headers.append(_NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def client_scheme(request: Request, trusted_proxies: Sequence[IPNetwork]) -> str:
    """The scheme the browser used: a trusted proxy's ``X-Forwarded-Proto`` (TLS usually ends
    at the proxy), else the connection's own."""
    peer = request.client.host if request.client else None
    proto = request.headers.getlist("x-forwarded-proto")
    return forwarded_scheme(peer, proto, trusted_proxies) or request.url.scheme


def same_origin(request: Request, trusted_proxies: Sequence[IPNetwork] = ()) -> bool:
    """A write must come from a page of this site: Origin (or, without it, Referer) names our
    own scheme, host and port.  Requests with neither still need the CSRF token."""
    own = f"{client_scheme(request, trusted_proxies)}://{request.url.netloc}".lower()
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.lower() == own
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.netloc}".lower() == own
    return True
