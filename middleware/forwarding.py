"""Which headers cross ``ReverseProxy``, both ways, and the forwarding headers it writes itself.

- Hop-by-hop headers (``Connection`` and the names it lists, ``Keep-Alive``, ``Proxy-*``, ``TE``,
  ``Trailer``, ``Transfer-Encoding``, ``Upgrade``) are dropped both ways.
- Forwarding headers are the proxy's own: every client-supplied ``X-Forwarded-*``, ``Forwarded``,
  ``X-Real-IP``, ``X-Original-URI``/``-URL``, ``X-Rewrite-URL`` and the like is dropped, then
  ``X-Forwarded-For`` is set to the one client address the gate resolved (trusting forwarding
  headers only from ``trusted_proxies``), with ``X-Forwarded-Proto`` and ``X-Forwarded-Host``.  The
  upstream therefore needs to trust only this proxy and read a single value.
- The upstream's budget header never reaches the client: only the gate in front reports budgets.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Sequence

import httpx2
from starlette.types import Scope

from gate.identity import UNKNOWN, IPNetwork, client_address, forwarded_scheme
from middleware.asgi import BUDGET_HEADER

__all__ = [
    "CLIENT_ADDRESS_HEADERS",
    "CLIENT_ADDRESS_KEY",
    "URL_OVERRIDE_HEADERS",
    "Forwarding",
    "connection_named",
    "http_scheme",
    "response_headers",
]

# An ASGI scope key a gate in front may set to the client address it resolved; when absent the proxy
# resolves it itself with the same rule (``gate.identity.client_address``) and trusted proxies.
CLIENT_ADDRESS_KEY = "reasoning_gate.client_address"
HOP_BY_HOP = frozenset(
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
CLIENT_FORWARDING = CLIENT_ADDRESS_HEADERS | URL_OVERRIDE_HEADERS
# httpx sets Host from the upstream URL; Expect is answered by the ASGI server itself.
REQUEST_ONLY = frozenset({b"host", b"expect"})
WEBSOCKET_HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
    }
)
BUDGET = BUDGET_HEADER.lower().encode()


class Forwarding:
    """The request side of one proxy's header policy: whom it trusts, and its body cap (an
    unreadable ``Content-Length`` is reported as over it)."""

    def __init__(self, trusted_proxies: Sequence[IPNetwork], max_body: int) -> None:
        self.trusted_proxies = tuple(trusted_proxies)
        self.max_body = max_body
        # Many requests come from few clients: parse each (peer, chain) pair once.
        self._client_address = functools.lru_cache(maxsize=65_536)(self._resolve_client)
        self._trusted_peer = functools.lru_cache(maxsize=4_096)(self._is_trusted)

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

    def request_headers(self, scope: Scope) -> tuple[list[tuple[bytes, bytes]], int | None, bool]:
        """Headers to forward, the declared body length and whether the body is chunked."""
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        named = connection_named(raw_headers)
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
                name in HOP_BY_HOP
                or name in CLIENT_FORWARDING
                or name in REQUEST_ONLY
                or name in named
                or name.startswith((b"proxy-", b"x-forwarded-"))
                or (scope["type"] == "websocket" and name in WEBSOCKET_HANDSHAKE)
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
        scheme = forwarded_scheme(peer, protos, self.trusted_proxies) or http_scheme(scope)
        kept.append((b"x-forwarded-proto", scheme.encode()))
        if forwarded_hosts and self._trusted_peer(peer):
            # A trusted proxy in front knows the host the client asked for.
            kept.append((b"x-forwarded-host", forwarded_hosts[-1].split(",")[-1].strip().encode()))
        elif host is not None:
            kept.append((b"x-forwarded-host", host))
        return kept, declared, chunked


def response_headers(
    response: httpx2.Response, location: Callable[[str], str | None]
) -> list[tuple[bytes, bytes]] | None:
    """Headers to send back, ``Location`` rewritten by ``location`` onto this site; None when
    ``location`` finds it off-site."""
    raw_headers = response.headers.raw
    named = connection_named(raw_headers)
    kept: list[tuple[bytes, bytes]] = []
    for raw_name, value in raw_headers:
        name = raw_name.lower()
        if (
            name in HOP_BY_HOP
            or name in named
            or name.startswith(b"proxy-")
            or name == BUDGET  # only the gate in front reports budgets
        ):
            continue
        if name == b"location":
            rewritten = location(value.decode("latin-1"))
            if rewritten is None:
                return None
            value = rewritten.encode("latin-1")
        kept.append((name, value))
    return kept


def connection_named(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Header names listed in ``Connection``: hop-by-hop for this connection only (RFC 9110 7.6.1)."""
    names: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            names.update(token.strip().lower() for token in value.split(b",") if token.strip())
    return frozenset(names)


def http_scheme(scope: Scope) -> str:
    scheme = str(scope.get("scheme", "http"))
    return {"ws": "http", "wss": "https"}.get(scheme, scheme)
