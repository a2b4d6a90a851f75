"""``GateMiddleware``: put Reasoning Gate in front of any ASGI app in one line.

    app = GateMiddleware(app, gatekeeper)

Requests to priced paths need a pass (``Authorization: ReasoningGate <pass>`` or the ``rg_pass``
cookie); without one the client gets a challenge (401).  The gate's own endpoints live under
``endpoint`` (default ``/.gate``):

    GET  /.gate/challenges/{id}   show a pending challenge again
    POST /.gate/challenges/{id}   submit the hidden word(s); success returns a pass
                                  (both: middleware.challenge_endpoint)

Every failure inside the gate answers 503 and lets nothing through (fail closed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gate.errors import (
    ChallengePending,
    RequestRefused,
)
from gate.failures import FailureLog
from gate.gatekeeper import Allow, Challenge, Decision, Gatekeeper, Visitor
from gate.paths import check_target
from gate.refusals import refusal
from middleware.challenge_endpoint import ChallengeEndpoint
from middleware.discovery import DISCOVERY_PATH, discovery_document
from middleware.messages import (
    headers_too_large_response,
    pending_response,
    refused_response,
    unavailable_response,
)
from middleware.negotiate import Flavor, negotiate
from middleware.openapi import openapi_document
from middleware.redirects import safe_next
from middleware.render import SCHEME, challenge_response, message_response
from middleware.scope_headers import header_values

log = logging.getLogger("reasoning_gate")

BUDGET_HEADER = "Gate-Budget-Remaining"
API_KEY_HEADER = "gate-key"  # clients with an API key send it here; it never reaches the app
_API_KEY_BYTES = API_KEY_HEADER.encode()


class GateMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        gatekeeper: Gatekeeper,
        *,
        endpoint: str = "/.gate",
        cookie_name: str = "rg_pass",
        max_body: int = 16_384,
        raw_target: bool = False,
    ) -> None:
        self.app = app
        # The app behind hands the raw request target to another server (a reverse proxy): a
        # target that server could decode or resolve differently is refused before pricing.
        self.raw_target = raw_target
        self.gatekeeper = gatekeeper
        self.endpoint = endpoint.rstrip("/")
        self.challenge_prefix = f"{self.endpoint}/challenges/"
        self.cookie_name = cookie_name
        self.max_body = max_body
        self._cookie_marker = f"{cookie_name}=".encode()
        self._failures = FailureLog(log)  # one line per cause per minute, never one per request
        self._challenges = ChallengeEndpoint(
            gatekeeper,
            challenge_prefix=self.challenge_prefix,
            cookie_name=cookie_name,
            max_body=max_body,
            failures=self._failures,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        oversized = self._oversized_headers(scope["headers"])
        if oversized is not None:  # before any decision: nothing is counted or charged
            flavor = negotiate(next(iter(header_values(scope, b"accept")), None))
            await self._answer(scope, receive, send, headers_too_large_response(flavor, oversized))
            return
        path = scope["path"]
        if kind == "http" and path.startswith(self.challenge_prefix):
            await self._challenges(scope, receive, send)
            return
        if kind == "http" and path == self.endpoint + "/openapi.json":
            # The gate's JSON endpoints, described (middleware.openapi); public like discovery.
            described = JSONResponse(
                openapi_document(self.endpoint), headers={"Cache-Control": "public, max-age=300"}
            )
            await described(scope, receive, send)
            return
        if kind == "http" and path == DISCOVERY_PATH:
            document = discovery_document(
                self.gatekeeper, endpoint=self.endpoint, cookie_name=self.cookie_name
            )
            # Public and the same for everyone: caches may keep it briefly.
            public = JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})
            await public(scope, receive, send)
            return
        visitor, flavor = self._visitor(scope)
        try:
            if self.raw_target:
                check_target(scope.get("raw_path"), path)
            if "signature-input" in visitor.headers:
                bot = await self.gatekeeper.verified_bot(
                    visitor.method,
                    visitor.host,
                    scope.get("raw_path", path.encode()).decode("latin-1"),
                    scope.get("query_string", b"").decode("latin-1"),
                    visitor.headers,
                    scope.get("scheme", "http"),
                )
                if bot is not None:
                    visitor = replace(visitor, bot=bot)
            verdict = self.gatekeeper.verdict(visitor)
            # A free rule needs no store round trip (nor a coroutine); it is counted all the same.
            decision: Decision | None = self.gatekeeper.free(visitor, verdict)
            if decision is None:
                decision = await self.gatekeeper.decide(visitor, verdict)
        except ChallengePending as pending:
            await self._answer(scope, receive, send, pending_response(flavor, pending.retry_after))
            return
        except RequestRefused as refused:  # judged before anything is counted or charged
            await self._answer(scope, receive, send, refused_response(flavor, refused))
            return
        except Exception as exc:  # fail closed: nothing passes when the gate itself fails
            await self._failures.record(
                f"{scope.get('method', 'WS')} {path}", exc, self.gatekeeper.store
            )
            await self._answer(scope, receive, send, unavailable_response(flavor))
            return

        if isinstance(decision, Allow):
            scope = self._without_gate_credentials(scope)
            if decision.remaining is None or kind != "http":
                await self.app(scope, receive, send)
            else:
                await self.app(scope, receive, _with_budget(send, decision.remaining))
            return
        response: Response
        if isinstance(decision, Challenge):
            response = challenge_response(
                decision.challenge,
                flavor=flavor,
                action=self.challenge_prefix + decision.challenge.challenge_id,
                next_path=_path_with_query(scope),
                reason=decision.reason,
                now=self.gatekeeper.clock(),
                free=(decision.rule.free_per_window, self.gatekeeper.settings.rate_window),
            )
        else:
            said = refusal(decision)
            response = message_response(
                said.status,
                said.title,
                said.message,
                flavor=flavor,
                error=said.code,
                headers=said.headers,
                extra=said.fields,
            )
        await self._answer(scope, receive, send, response)

    # -- requests --------------------------------------------------------------------------------

    def _oversized_headers(self, raw: Sequence[tuple[bytes, bytes]]) -> str | None:
        """The limit ``raw`` exceeds (the sentence the client is told), or None."""
        settings = self.gatekeeper.settings
        if len(raw) > settings.max_headers:
            return f"Send at most {settings.max_headers} header fields."
        if sum(len(name) + len(value) for name, value in raw) > settings.max_header_bytes:
            return f"Header names and values must fit in {settings.max_header_bytes} bytes."
        return None

    def _visitor(self, scope: Scope) -> tuple[Visitor, Flavor]:
        """One pass over the headers: the facts rules look at, the candidate passes, and the
        flavour an answer of the gate's own takes."""
        headers: dict[str, str] = {}
        authorization: bytes | None = None
        cookies: list[str] = []
        forwarded: list[str] = []
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
            if name == "authorization":
                authorization = raw_value
            elif name == "cookie":
                cookies.append(value)
            elif name == "x-forwarded-for":
                forwarded.append(value)
        tokens: list[str] = []
        if authorization is not None and (token := _gate_credential(authorization)) is not None:
            tokens.append(token)  # an empty one too: refused as invalid, not taken as missing
        for header in cookies:
            tokens.extend(_cookie_values(header, self.cookie_name))
        client = scope.get("client")
        flavor = negotiate(headers.get("accept"))
        visitor = Visitor(
            path=scope["path"],
            peer=client[0] if client else None,
            forwarded_for=tuple(forwarded),
            tokens=tuple(tokens),
            human=flavor == "html",
            method=scope.get("method", "GET"),
            host=headers.get("host", ""),
            headers=headers,
            api_key=headers.get(API_KEY_HEADER),
        )
        return visitor, flavor

    def _without_gate_credentials(self, scope: Scope) -> Scope:
        """The app behind must never see (or log) a gate credential: drop the gate's Authorization
        header, its cookie and the API key header.  Returns ``scope`` itself when there is nothing
        to drop."""
        headers = scope["headers"]
        marker = self._cookie_marker
        if not any(
            (name == b"authorization" and _gate_credential(value) is not None)
            or (name == b"cookie" and marker in value)
            or name == _API_KEY_BYTES
            for name, value in headers
        ):
            return scope
        kept: list[tuple[bytes, bytes]] = []
        for name, value in headers:
            if name == b"authorization" and _gate_credential(value) is not None:
                continue
            if name == _API_KEY_BYTES:
                continue
            if name == b"cookie" and marker in value:
                value = _drop_cookie(value, self.cookie_name.encode())
                if not value:
                    continue
            kept.append((name, value))
        return {**scope, "headers": kept}

    async def _answer(self, scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        if scope["type"] == "websocket":
            # A WebSocket handshake cannot carry a challenge body: refuse it; pay over HTTP first.
            await send({"type": "websocket.close", "code": 1008, "reason": "pass required"})
            return
        await response(scope, receive, send)


# -- helpers ---------------------------------------------------------------------------------------


_SCHEME_BYTES = SCHEME.lower().encode()


def _gate_credential(authorization: bytes) -> str | None:
    """The pass in an ``Authorization: ReasoningGate <pass>`` value ("" when the scheme comes
    alone: servers strip the trailing space), or None for another scheme."""
    scheme, _, rest = authorization.strip().partition(b" ")
    if scheme.lower() != _SCHEME_BYTES:
        return None
    return rest.decode("latin-1").strip()


def _cookie_values(header: str, cookie_name: str) -> list[str]:
    # Several cookies of one name (set for different paths) may arrive; http.cookies keeps only
    # one, so split by hand.  An empty value is kept: it is a pass that was presented, and
    # refused as invalid.
    values: list[str] = []
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == cookie_name:
            values.append(value.strip('"'))
    return values


def _drop_cookie(header: bytes, name: bytes) -> bytes:
    parts = [part.strip() for part in header.split(b";")]
    return b"; ".join(part for part in parts if part and part.partition(b"=")[0] != name)


def _with_budget(send: Send, remaining: int) -> Send:
    header = (BUDGET_HEADER.lower().encode(), str(remaining).encode())

    async def send_with_budget(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return send_with_budget


def _path_with_query(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return safe_next(scope["path"] + (f"?{query}" if query else ""))
