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
from dataclasses import replace

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gate.errors import (
    ChallengePending,
    RequestRefused,
)
from gate.failures import FailureLog
from gate.gatekeeper import Allow, Challenge, Decision, Gatekeeper
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
from middleware.negotiate import negotiate
from middleware.openapi import openapi_document
from middleware.paid_lane import PaidLane
from middleware.redirects import safe_next
from middleware.render import challenge_response, message_response
from middleware.request_context import MEMO_HEADER_BYTES, RequestContext, RequestContexts
from middleware.scope_headers import header_values

log = logging.getLogger("reasoning_gate")

BUDGET_HEADER = "Gate-Budget-Remaining"
DECISION_KEY = "reasoning_gate.decision"  # the scope key of expose_decision


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
        expose_decision: bool = False,
    ) -> None:
        self.app = app
        # The app behind is the gate's own (forward auth): it reads the Allow it was reached by
        # from the scope, under DECISION_KEY.
        self.expose_decision = expose_decision
        # The app behind hands the raw request target to another server (a reverse proxy): a
        # target that server could decode or resolve differently is refused before pricing.
        self.raw_target = raw_target
        self.gatekeeper = gatekeeper
        self.endpoint = endpoint.rstrip("/")
        self.challenge_prefix = f"{self.endpoint}/challenges/"
        self._openapi = f"{self.endpoint}/openapi.json"
        self.cookie_name = cookie_name
        self.max_body = max_body
        self._contexts = RequestContexts(cookie_name)
        self._lane = PaidLane(gatekeeper)
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
        raw_headers = scope["headers"]
        settings = self.gatekeeper.settings
        key, context = self._contexts.known(raw_headers)
        if (
            context is None
            or context.size > settings.max_header_bytes
            or len(raw_headers) > settings.max_headers
        ):
            size = sum(len(name) + len(value) for name, value in raw_headers)
            oversized = self._oversized_headers(len(raw_headers), size)
            if oversized is not None:  # before any decision: nothing is counted or charged
                flavor = negotiate(next(iter(header_values(scope, b"accept")), None))
                too_large = headers_too_large_response(flavor, oversized)
                await self._answer(scope, receive, send, too_large)
                return
            context = self._contexts.read(key, size)
        path = scope["path"]
        if kind == "http" and path.startswith(self.challenge_prefix):
            await self._challenges(scope, receive, send)
            return
        if kind == "http" and path == self._openapi:
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
        client = scope.get("client")
        peer = client[0] if client else None
        method = scope.get("method", "GET")
        flavor = context.flavor
        lane_key = None
        if kind == "http" and context.size <= MEMO_HEADER_BYTES and not context.signed:
            lane_key = (path, scope.get("raw_path"), method, peer, key)
            repeat = self._lane.serve(lane_key)
            if repeat is not None:
                await self._allowed(scope, receive, send, context, repeat)
                return
        visitor = context.visitor(path, peer, method)
        try:
            stamp = self.gatekeeper.stamp()
            if self.raw_target:
                check_target(scope.get("raw_path"), path)
            if context.signed:
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
                if lane_key is not None and isinstance(decision, Allow):
                    self._lane.remember(lane_key, decision, verdict.name, stamp)
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
            await self._allowed(scope, receive, send, context, decision)
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

    async def _allowed(
        self, scope: Scope, receive: Receive, send: Send, context: RequestContext, decision: Allow
    ) -> None:
        if context.stripped is not None:  # the app behind never sees a gate credential
            scope = {**scope, "headers": list(context.stripped)}
            if self.expose_decision:
                scope[DECISION_KEY] = decision
        elif self.expose_decision:
            scope = {**scope, DECISION_KEY: decision}
        if decision.remaining is None or scope["type"] != "http":
            await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, _with_budget(send, decision.remaining))

    # -- requests --------------------------------------------------------------------------------

    def _oversized_headers(self, count: int, size: int) -> str | None:
        """The limit ``count`` header fields of ``size`` bytes exceed (the sentence the client
        is told), or None."""
        settings = self.gatekeeper.settings
        if count > settings.max_headers:
            return f"Send at most {settings.max_headers} header fields."
        if size > settings.max_header_bytes:
            return f"Header names and values must fit in {settings.max_header_bytes} bytes."
        return None

    async def _answer(self, scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        if scope["type"] == "websocket":
            # A WebSocket handshake cannot carry a challenge body: refuse it; pay over HTTP first.
            await send({"type": "websocket.close", "code": 1008, "reason": "pass required"})
            return
        await response(scope, receive, send)


# -- helpers ---------------------------------------------------------------------------------------


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
