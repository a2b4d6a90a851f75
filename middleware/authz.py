"""``ForwardAuth``: the gate's decision alone, for the auth subrequests of an edge proxy.

nginx ``auth_request``, Caddy ``forward_auth``, Traefik ``ForwardAuth`` and Envoy ``ext_authz`` (HTTP)
ask before each request whether it may pass; the edge proxies, the gate only decides.  Endpoints
(under ``endpoint``, default ``/.gate``):

    ANY  /.gate/auth                 the original request in X-Forwarded-Method, X-Forwarded-Uri and
                                     X-Forwarded-Host (Caddy, Traefik; nginx as configured in deploy/)
    ANY  /.gate/auth/deferred        the same; every refusal is a bodiless 401 with Gate-Answer: ID
    ANY  /.gate/auth/path/<target>   the original target is the rest of the path, the method and
                                     Host the request's own (Envoy's ``path_prefix``)
    GET  /.gate/answers/{id}         a deferred refusal, once (nginx's error_page fetches it)
    GET|POST /.gate/challenges/{id}  the challenge endpoint, proxied by the edge as it is
    GET  /.well-known/reasoning-gate the discovery document, likewise

A decision is made by ``GateMiddleware`` itself over a request rebuilt from those headers (path
decoded as an ASGI server decodes it; the middleware and the gatekeeper then normalise it as for
any request), so the client meets the same protocol as through the middleware: a paying client's
request gets 200 with ``Gate-Budget-Remaining``, any other the full answer (401 challenge with
``WWW-Authenticate`` and a JSON, markdown or HTML body, 429, 403, 503).  Caddy, Traefik and Envoy
hand a non-2xx answer to the client as it is.  nginx keeps only 401/403 (anything else becomes
500) and drops the body, so its configuration uses ``/auth/deferred``: the answer is kept in the
store for ``answer_ttl`` seconds and nginx's ``error_page`` replays it from ``/answers/{id}``.

Forward-auth headers are believed only from ``trusted_proxies`` (``GATE_TRUSTED_PROXIES``); any
other peer gets 403 on the auth endpoints.  The middleware runs with ``raw_target``: a target that
could be read two ways (``gate.paths.check_target``) answers 400 before anything is charged, since
the site behind the edge gets the raw target, which must mean the path the gate priced.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gate.gatekeeper import Allow, Gatekeeper
from gate.identity import IPNetwork
from middleware.asgi import DECISION_KEY, GateMiddleware
from middleware.discovery import DISCOVERY_PATH
from middleware.negotiate import negotiate
from middleware.render import message_response

log = logging.getLogger("reasoning_gate.authz")

__all__ = ["ANSWER_HEADER", "ForwardAuth"]

ANSWER_HEADER = "Gate-Answer"
_ANSWER_KEY = "edge-answer:"
# Headers that describe the original request to the gate; they never reach the decision as
# request headers of their own.
_FORWARD_AUTH = frozenset(
    {b"x-forwarded-method", b"x-forwarded-uri", b"x-forwarded-host", b"x-forwarded-proto"}
)
_GRANTED_HEADERS = [(b"content-length", b"0"), (b"cache-control", b"no-store")]


def _granting(edge_cache: int, clock: Callable[[], float]) -> ASGIApp:
    """The 'app' behind the middleware: reaching it means the request may pass.

    The middleware has already dropped the gate's credentials from ``scope``; what is left of the
    request's Authorization and Cookie headers goes back in Gate-Authorization and Gate-Cookie, for
    an edge that replaces the site's copies with them (deploy/nginx and deploy/caddy do), so the
    site never sees a pass.  Both are always sent, empty when nothing is left: Caddy can test a
    header's value, not its absence.

    With ``edge_cache`` (GATE_EDGE_CACHE) seconds, a yes paid by a pass says so in
    ``X-Accel-Expires``, which nginx's cache honours (deploy/nginx keys it by the pass, the
    client's address chain, method, host and URI): nothing else is ever marked cacheable.
    """

    async def granted(scope: Scope, receive: Receive, send: Send) -> None:
        cookies = [value for name, value in scope["headers"] if name == b"cookie"]
        gate_headers = [
            (b"gate-cookie", b"; ".join(cookies)),
            (b"gate-authorization", _header(scope, b"authorization") or b""),
        ]
        seconds = _cacheable(scope.get(DECISION_KEY), edge_cache, clock())
        if seconds:
            headers = [
                (b"content-length", b"0"),
                (b"x-accel-expires", str(seconds).encode()),
                *gate_headers,
            ]
        else:
            headers = [*_GRANTED_HEADERS, *gate_headers]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return granted


def _cacheable(decision: Allow | None, edge_cache: int, now: float) -> int:
    """Seconds the edge may keep ``decision`` (0: not at all): only a yes paid by a pass, never
    past the pass's expiry, never the answer that spent its last use (its repeats would all be
    over the budget), never a verified bot's (its signature is not in the edge's key)."""
    if not edge_cache or decision is None or decision.dry_run is not None:
        return 0
    claims = decision.claims
    if claims is None or not decision.remaining or claims.subject.startswith("bot:"):
        return 0
    return max(0, min(edge_cache, int(claims.expires_at - now)))


class ForwardAuth:
    """The ASGI app ``gate authz`` serves.  ``trusted_proxies`` defaults to the gatekeeper's."""

    def __init__(
        self,
        gatekeeper: Gatekeeper,
        *,
        endpoint: str = "/.gate",
        cookie_name: str = "rg_pass",
        max_body: int = 16_384,
        answer_ttl: float = 30.0,
        trusted_proxies: Sequence[IPNetwork] | None = None,
    ) -> None:
        self.gatekeeper = gatekeeper
        self.endpoint = endpoint.rstrip("/")
        self.trusted_proxies = tuple(
            gatekeeper.settings.trusted_proxies if trusted_proxies is None else trusted_proxies
        )
        self.answer_ttl = answer_ttl
        self._gate = GateMiddleware(
            _granting(gatekeeper.settings.edge_cache, gatekeeper.clock),
            gatekeeper,
            endpoint=endpoint,
            cookie_name=cookie_name,
            max_body=max_body,
            raw_target=True,  # the site behind the edge gets the raw target: refuse ambiguous ones
            expose_decision=True,
        )
        self._auth = f"{self.endpoint}/auth"
        self._deferred = f"{self._auth}/deferred"
        self._by_path = f"{self._auth}/path/"
        self._answers = f"{self.endpoint}/answers/"
        self._challenges = f"{self.endpoint}/challenges/"
        # Every request comes from one of a few edge addresses: parse each once.
        self._trusted_address = functools.lru_cache(maxsize=1_024)(self._peer_trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _no_lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        path: str = scope["path"]
        if path.startswith(self._challenges) or path == DISCOVERY_PATH:
            await self._gate(scope, receive, send)
            return
        if path == self._auth or path == self._deferred or path.startswith(self._by_path):
            if not self._trusted(scope):
                await self._refuse(scope, receive, send, 403, "untrusted_peer")
                return
            original = (
                self._from_path(scope)
                if path.startswith(self._by_path)
                else self._from_headers(scope)
            )
            if original is None:
                await self._refuse(scope, receive, send, 400, "bad_forward_auth")
                return
            if path == self._deferred:
                await self._gate(original, receive, self._deferring(send))
            else:
                await self._gate(original, receive, send)
            return
        if path.startswith(self._answers) and scope["method"] in ("GET", "HEAD"):
            if not self._trusted(scope):
                await self._refuse(scope, receive, send, 403, "untrusted_peer")
                return
            await self._replay(scope, receive, send, path[len(self._answers) :])
            return
        await self._refuse(scope, receive, send, 404, "not_found")

    # -- the original request ----------------------------------------------------------------------

    def _trusted(self, scope: Scope) -> bool:
        client = scope.get("client")
        return client is not None and self._trusted_address(client[0])

    def _peer_trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)

    def _from_headers(self, scope: Scope) -> Scope | None:
        found: dict[bytes, bytes] = {}
        kept: list[tuple[bytes, bytes]] = []
        for name, value in scope["headers"]:
            if name in _FORWARD_AUTH:
                if name in found:  # two values: which one the edge meant cannot be told
                    return None
                found[name] = value
            elif name != b"host":
                kept.append((name, value))
        method = found.get(b"x-forwarded-method")
        uri = found.get(b"x-forwarded-uri")
        host = found.get(b"x-forwarded-host") or _header(scope, b"host")
        if method is None or uri is None or host is None:
            return None
        return _rebuild(scope, method, uri, host, kept, found.get(b"x-forwarded-proto"))

    def _from_path(self, scope: Scope) -> Scope | None:
        raw: bytes = scope.get("raw_path") or scope["path"].encode("latin-1")
        prefix = self._by_path.encode("latin-1")
        if not raw.startswith(prefix):
            return None  # the prefix itself was escaped: not a form the edge sends
        target = b"/" + raw[len(prefix) :]
        query: bytes = scope.get("query_string", b"")
        uri = target + b"?" + query if query else target
        host = _header(scope, b"host")
        if host is None:
            return None
        kept = [(n, v) for n, v in scope["headers"] if n != b"host" and n not in _FORWARD_AUTH]
        return _rebuild(
            scope,
            scope["method"].encode("latin-1"),
            uri,
            host,
            kept,
            _header(scope, b"x-forwarded-proto"),
        )

    # -- answers -------------------------------------------------------------------------------------

    def _deferring(self, send: Send) -> Send:
        """Pass a 2xx through; keep any other answer in the store and send 401 + its id."""
        start: Message | None = None
        body: list[bytes] = []

        async def deferring_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] < 300:
                    await send(message)
                else:
                    start = message
                return
            if start is None:
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            answer_id = secrets.token_urlsafe(16)
            record = {
                "status": start["status"],
                "headers": [
                    [n.decode("latin-1"), v.decode("latin-1")] for n, v in start.get("headers", ())
                ],
                "body": b"".join(body).decode("latin-1"),
            }
            await self.gatekeeper.store.put(
                _ANSWER_KEY + answer_id, json.dumps(record).encode(), self.answer_ttl
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (ANSWER_HEADER.lower().encode(), answer_id.encode()),
                        *_GRANTED_HEADERS,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})

        return deferring_send

    async def _replay(self, scope: Scope, receive: Receive, send: Send, answer_id: str) -> None:
        try:
            stored = (
                await self.gatekeeper.store.take(_ANSWER_KEY + answer_id) if answer_id else None
            )
        except Exception as exc:  # fail closed: an answer the gate cannot read lets nothing through
            log.warning("cannot read a deferred answer: %r", exc)
            stored = None
        if stored is None:
            await self._refuse(scope, receive, send, 503, "gate_unavailable")
            return
        record: dict[str, Any] = json.loads(stored)
        await send(
            {
                "type": "http.response.start",
                "status": record["status"],
                "headers": [
                    (n.encode("latin-1"), v.encode("latin-1")) for n, v in record["headers"]
                ],
            }
        )
        await send({"type": "http.response.body", "body": record["body"].encode("latin-1")})

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        error: str,
        *,
        deferred: bool = False,
    ) -> None:
        flavor = negotiate(_text(_header(scope, b"accept")))
        response = message_response(
            status,
            _TITLES[status],
            _MESSAGES[error],
            flavor=flavor,
            error=error,
            headers={"Retry-After": "5"} if status == 503 else None,
        )
        await response(scope, receive, self._deferring(send) if deferred else send)


_TITLES = {400: "Bad request", 403: "Forbidden", 404: "Not found", 503: "Temporarily unavailable"}
_MESSAGES = {
    "untrusted_peer": "Forward-auth requests are answered only for the configured trusted proxies.",
    "bad_forward_auth": "The edge proxy did not say which request to decide "
    "(X-Forwarded-Method, X-Forwarded-Uri and a host, once each).",
    "not_found": "This is a forward-auth endpoint; see the gate's deployment guide.",
    "gate_unavailable": "The gate could not check this request; retry later.",
}


def _rebuild(
    scope: Scope,
    method: bytes,
    uri: bytes,
    host: bytes,
    headers: list[tuple[bytes, bytes]],
    proto: bytes | None,
) -> Scope | None:
    """The original request as an ASGI scope, its path decoded as an ASGI server decodes it."""
    if not uri.startswith(b"/") or b"#" in uri:
        return None  # origin-form only: an absolute URI or a fragment is not what the edge got
    raw_path, _, query = uri.partition(b"?")
    try:
        text = raw_path.decode("ascii")
        verb = method.decode("ascii").strip().upper()
    except UnicodeDecodeError:
        return None
    if not verb.isalpha():
        return None
    scheme = (_text(proto) or "").split(",")[-1].strip().lower()
    return {
        **scope,
        "method": verb,
        "path": unquote(text),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        # Only a trusted peer gets here, so its X-Forwarded-Proto is believed (as the middleware
        # believes it for the Secure cookie flag).
        "scheme": scheme if scheme in ("http", "https") else scope.get("scheme", "http"),
        "headers": [(b"host", host), *headers, *([(b"x-forwarded-proto", proto)] if proto else [])],
    }


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return bytes(value)
    return None


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


async def _no_lifespan(receive: Receive, send: Send) -> None:
    # The runtime is opened by whoever serves this app; lifespan has nothing to do.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
