"""``GateMiddleware``: put Reasoning Gate in front of any ASGI app in one line.

    app = GateMiddleware(app, gatekeeper)

Requests to priced paths need a pass (``Authorization: ReasoningGate <pass>`` or the ``rg_pass``
cookie); without one the client gets a challenge (401).  The gate's own endpoints live under
``endpoint`` (default ``/.gate``):

    GET  /.gate/challenges/{id}   show a pending challenge again
    POST /.gate/challenges/{id}   submit the hidden word(s); success returns a pass

Every failure inside the gate answers 503 and lets nothing through (fail closed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gate.answers import readable_answer
from gate.challenges import MintedPass
from gate.errors import (
    ChallengeGone,
    ChallengeMismatch,
    ChallengePending,
    RequestRefused,
    TooEarly,
    WrongAnswer,
)
from gate.failures import FailureLog
from gate.gatekeeper import Allow, Challenge, Decision, Gatekeeper, Visitor
from gate.identity import forwarded_scheme
from gate.paths import check_target
from gate.refusals import refusal
from middleware.body import BadLength, BodyTooLarge, read_body
from middleware.discovery import DISCOVERY_PATH, discovery_document
from middleware.negotiate import Flavor, negotiate
from middleware.openapi import openapi_document
from middleware.redirects import safe_next
from middleware.render import NO_STORE, SCHEME, challenge_response, message_response

log = logging.getLogger("reasoning_gate")

BUDGET_HEADER = "Gate-Budget-Remaining"
API_KEY_HEADER = "gate-key"  # clients with an API key send it here; it never reaches the app
_API_KEY_BYTES = API_KEY_HEADER.encode()
MAX_ANSWERS = 16
COOKIE_GRACE = 86_400  # seconds the pass cookie outlives its pass


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        oversized = self._oversized_headers(scope["headers"])
        if oversized is not None:  # before any decision: nothing is counted or charged
            flavor = negotiate(next(iter(_header_values(scope, b"accept")), None))
            await self._answer(scope, receive, send, _headers_too_large(flavor, oversized))
            return
        path = scope["path"]
        if kind == "http" and path.startswith(self.challenge_prefix):
            await self._endpoint(scope, receive, send)
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
            await self._answer(scope, receive, send, _pending(flavor, pending.retry_after))
            return
        except RequestRefused as refused:  # judged before anything is counted or charged
            await self._answer(scope, receive, send, _refused(flavor, refused))
            return
        except Exception as exc:  # fail closed: nothing passes when the gate itself fails
            await self._failures.record(
                f"{scope.get('method', 'WS')} {path}", exc, self.gatekeeper.store
            )
            await self._answer(scope, receive, send, _unavailable(flavor))
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

    def _proxied_scheme(self, scope: Scope) -> str | None:
        client = scope.get("client")
        return forwarded_scheme(
            client[0] if client else None,
            _header_values(scope, b"x-forwarded-proto"),
            self.gatekeeper.settings.trusted_proxies,
        )

    async def _endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        flavor = negotiate(headers.get("accept"))
        try:
            response = await self._challenge_endpoint(scope, receive, headers, flavor)
        except RequestRefused as refused:
            response = _refused(flavor, refused)
        except Exception as exc:  # fail closed, as on the gated path
            await self._failures.record(
                f"{scope['method']} {scope['path']}", exc, self.gatekeeper.store
            )
            response = _unavailable(flavor)
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, response: Response) -> None:
        if scope["type"] == "websocket":
            # A WebSocket handshake cannot carry a challenge body: refuse it; pay over HTTP first.
            await send({"type": "websocket.close", "code": 1008, "reason": "pass required"})
            return
        await response(scope, receive, send)

    # -- the challenge endpoint ------------------------------------------------------------------

    async def _challenge_endpoint(
        self, scope: Scope, receive: Receive, headers: dict[str, str], flavor: Flavor
    ) -> Response:
        challenge_id = scope["path"][len(self.challenge_prefix) :]
        action = self.challenge_prefix + challenge_id
        client = scope.get("client")
        visitor = Visitor(
            path=scope["path"],
            peer=client[0] if client else None,
            forwarded_for=tuple(_header_values(scope, b"x-forwarded-for")),
        )
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        next_path = safe_next(query.get("next", [None])[0])
        method = scope["method"]
        if method == "GET":
            try:
                issued = await self.gatekeeper.challenges.view(challenge_id)
            except ChallengeGone:
                return _gone(flavor, next_path)
            # After a wrong answer in a browser (POST, then 303 here) the form says so; the
            # sentence is built here from the record, never taken from the query.
            wrong = flavor == "html" and query.get("note") == ["wrong"]
            return challenge_response(
                issued,
                flavor=flavor,
                action=action,
                next_path=next_path,
                reason="",  # shown again on request: nothing to explain
                now=self.gatekeeper.clock(),
                status=200,
                error=_wrong_sentence(issued.attempts) if wrong else None,
            )
        if method != "POST":
            return message_response(
                405,
                "Method not allowed",
                "Use GET to see a puzzle and POST to answer it.",
                flavor=flavor,
                error="method_not_allowed",
                headers={"Allow": "GET, POST"},
            )
        try:
            body = await read_body(receive, headers, self.max_body)
        except BadLength:
            return message_response(
                400,
                "Bad request",
                "Content-Length must be a number.",
                flavor=flavor,
                error="bad_request",
            )
        except BodyTooLarge:
            return message_response(
                413,
                "Too large",
                f"Answers must fit in {self.max_body} bytes.",
                flavor=flavor,
                error="body_too_large",
            )
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in ("", "application/json", "application/x-www-form-urlencoded"):
            return message_response(
                415,
                "Unsupported media type",
                "Send application/json or application/x-www-form-urlencoded.",
                flavor=flavor,
                error="unsupported_media_type",
            )
        parsed = _parse_answers(body, media)
        if parsed is None:
            return message_response(
                422,
                "Unreadable answer",
                'Send JSON {"answers": ["word", ...]} or a form with one "answer" field per hidden word.',
                flavor=flavor,
                error="malformed_answer",
            )
        answers, form_next = parsed
        if form_next is not None:
            next_path = safe_next(form_next)
        try:
            minted = await self.gatekeeper.solve(challenge_id, visitor, answers)
        except WrongAnswer as wrong:
            return await self._wrong_answer(
                challenge_id, action, next_path, flavor, wrong.attempts_left
            )
        except ChallengeMismatch:
            return message_response(
                403,
                "Not your puzzle",
                "This puzzle was issued to another client; request the page again.",
                flavor=flavor,
                error="challenge_mismatch",
            )
        except ChallengeGone:
            return _gone(flavor, next_path)
        except TooEarly as early:
            return await self._too_early(challenge_id, action, next_path, flavor, early.retry_after)
        secure = scope.get("scheme") == "https" or self._proxied_scheme(scope) == "https"
        return self._solved(minted, flavor, next_path, secure=secure)

    async def _too_early(
        self, challenge_id: str, action: str, next_path: str, flavor: Flavor, retry_after: int
    ) -> Response:
        """429 for an answer before the solve-time floor: not judged, no attempt used.

        People (HTML) see their puzzle again with the note, so a reload keeps their work;
        programs get a short JSON error to retry after ``Retry-After``.
        """
        message = (
            f"Answers to this puzzle are checked from {retry_after} second(s) from now; "
            "nothing was judged and no attempt was used. Send it again then."
        )
        retry = {"Retry-After": str(retry_after)}
        if flavor == "html":
            response = await self._puzzle_again(
                challenge_id, action, next_path, flavor, status=429, reason="", error=message
            )
            response.headers.update(retry)
            return response
        return message_response(
            429,
            "Too early",
            message,
            flavor=flavor,
            error="too_early",
            headers=retry,
            extra={"retry_after": retry_after},
        )

    async def _puzzle_again(
        self,
        challenge_id: str,
        action: str,
        next_path: str,
        flavor: Flavor,
        *,
        status: int,
        reason: str,
        error: str,
    ) -> Response:
        """The pending puzzle shown again with ``error`` (a 410 if it is gone meanwhile)."""
        try:
            issued = await self.gatekeeper.challenges.view(challenge_id)
        except ChallengeGone:
            return _gone(flavor, next_path)
        return challenge_response(
            issued,
            flavor=flavor,
            action=action,
            next_path=next_path,
            reason=reason,
            now=self.gatekeeper.clock(),
            status=status,
            error=error,
        )

    async def _wrong_answer(
        self, challenge_id: str, action: str, next_path: str, flavor: Flavor, attempts_left: int
    ) -> Response:
        response: Response
        if attempts_left > 0 and flavor == "html":
            # POST-redirect-GET: the form is shown by a GET, so reloading the page shows it again
            # instead of sending the wrong answer again (which would use another attempt).
            query = urlencode({"next": next_path, "note": "wrong"})
            response = RedirectResponse(f"{action}?{query}", status_code=303, headers=NO_STORE)
        elif attempts_left > 0:
            response = await self._puzzle_again(
                challenge_id,
                action,
                next_path,
                flavor,
                status=400,
                reason="wrong_answer",
                error=_wrong_sentence(attempts_left),
            )
        else:
            response = message_response(
                400,
                "No attempts left",
                "That is not the hidden word, and no attempts are left. "
                "Request the page again for a new puzzle.",
                flavor=flavor,
                error="wrong_answer",
                extra={"attempts_left": 0},
                link=(next_path, "Try a new puzzle"),
            )
        response.headers["X-Attempts-Left"] = str(attempts_left)
        return response

    def _solved(
        self, minted: MintedPass, flavor: Flavor, next_path: str, *, secure: bool
    ) -> Response:
        claims = minted.claims
        response: Response
        if flavor == "html":
            response = RedirectResponse(next_path, status_code=303, headers=NO_STORE)
        else:
            response = JSONResponse(
                {
                    "pass": minted.token,
                    "authorization": f"{SCHEME} {minted.token}",
                    "scope": claims.scope,
                    "budget": claims.budget,
                    "expires_at": claims.expires_at,
                    "price": claims.price,
                },
                headers=NO_STORE,
            )
        # "/articles" (not "/articles/"): browsers then send the cookie to "/articles" too, which
        # the rule also covers; RFC 6265 path matching still stops it at "/articlesX".
        scope_path = (
            claims.scope.removeprefix("http:") if claims.scope.startswith("http:/") else "/"
        )
        cookie_path = scope_path.rstrip("/") or "/"
        response.set_cookie(
            self.cookie_name,
            minted.token,
            # A day past the pass's expiry: the browser still sends the expired pass, so the
            # challenge that follows can tell the person their pass expired (an expired pass
            # opens nothing).
            max_age=claims.expires_at - claims.issued_at + COOKIE_GRACE,
            path=cookie_path,
            secure=secure,
            httponly=True,
            samesite="lax",
        )
        return response


# -- helpers ---------------------------------------------------------------------------------------


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def _header_values(scope: Scope, wanted: bytes) -> list[str]:
    return [value.decode("latin-1") for name, value in scope["headers"] if name == wanted]


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


def _unavailable(flavor: Flavor) -> Response:
    return message_response(
        503,
        "Temporarily unavailable",
        "The gate could not check this request; retry later.",
        flavor=flavor,
        error="gate_unavailable",
        headers={"Retry-After": "5"},
    )


def _path_with_query(scope: Scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return safe_next(scope["path"] + (f"?{query}" if query else ""))


def _parse_answers(body: bytes, media: str) -> tuple[list[str], str | None] | None:
    try:
        if media == "application/x-www-form-urlencoded":
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            answers: Sequence[Any] = form.get("answer", [])
            next_values = form.get("next")
            form_next = next_values[0] if next_values else None
        else:
            data = json.loads(body or b"null")
            if not isinstance(data, dict):
                return None
            answers = data.get("answers", [data["answer"]] if "answer" in data else [])
            form_next = None
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: JSON nested deeper than the parser's stack (a few kilobytes of '[' do
        # it); an unreadable answer like any other, never a gate failure.
        return None
    if not isinstance(answers, list) or not 0 < len(answers) <= MAX_ANSWERS:
        return None
    if not all(isinstance(answer, str) and readable_answer(answer) for answer in answers):
        return None
    return list(answers), form_next


_REFUSALS = {
    "ambiguous_path": (
        "Ambiguous path",
        "This path could name another resource on the site behind the gate (path parameters, "
        "case, trailing dots or spaces, encoded separators). Request its plain spelling.",
    ),
    "unreadable_forwarding": (
        "Bad forwarding header",
        "A proxy in front of the gate sent an X-Forwarded-For chain that does not parse.",
    ),
}


def _refused(flavor: Flavor, refused: RequestRefused) -> Response:
    title, message = _REFUSALS.get(refused.code, ("Bad request", "The request was refused."))
    return message_response(400, title, message, flavor=flavor, error=refused.code)


def _headers_too_large(flavor: Flavor, sentence: str) -> Response:
    return message_response(
        431, "Headers too large", sentence, flavor=flavor, error="headers_too_large"
    )


def _pending(flavor: Flavor, retry_after: int) -> Response:
    return message_response(
        429,
        "One moment",
        "Your puzzle is being prepared by another of your requests; retry in a moment.",
        flavor=flavor,
        error="challenge_pending",
        headers={"Retry-After": str(retry_after)},
        extra={"retry_after": retry_after},
    )


def _wrong_sentence(attempts_left: int) -> str:
    return f"That is not the hidden word. {attempts_left} attempt(s) left."


def _gone(flavor: Flavor, next_path: str = "/") -> Response:
    """410 for an unknown, expired, solved or spent challenge; people get a link to the page they
    were headed for, which shows a fresh puzzle."""
    return message_response(
        410,
        "Puzzle expired",
        "This puzzle is unknown, expired, already solved or out of attempts. "
        "Request the resource again for a new one.",
        flavor=flavor,
        error="challenge_gone",
        link=(next_path, "Get a new puzzle"),
    )
