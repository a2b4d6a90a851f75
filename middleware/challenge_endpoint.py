"""The challenge endpoint, ``{endpoint}/challenges/{id}``: a pending puzzle shown again (GET), and
the answer that turns it into a pass (POST).

People (HTML) answer with a form and are sent back to the page they wanted, the pass set as a
cookie; programs post JSON and get the pass in JSON.  Every failure of the gate here answers 503
(fail closed), like the gated path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from gate.answers import MAX_ANSWERS, readable_answer
from gate.challenges import MintedPass
from gate.errors import ChallengeGone, ChallengeMismatch, RequestRefused, TooEarly, WrongAnswer
from gate.failures import FailureLog
from gate.gatekeeper import Gatekeeper, Visitor
from gate.identity import forwarded_scheme
from middleware.body import BadLength, BodyTooLarge, read_body
from middleware.messages import gone_response, refused_response, unavailable_response
from middleware.negotiate import Flavor, negotiate
from middleware.redirects import safe_next
from middleware.render import NO_STORE, SCHEME, challenge_response, message_response
from middleware.scope_headers import header_values, headers_of

__all__ = ["ChallengeEndpoint"]

COOKIE_GRACE = 86_400  # seconds the pass cookie outlives its pass


class ChallengeEndpoint:
    """Answers requests under ``challenge_prefix``; ``cookie_name`` carries the pass to browsers,
    ``max_body`` bounds an answer, ``failures`` logs why the gate failed (shared with the
    middleware, so one cause is one line a minute)."""

    def __init__(
        self,
        gatekeeper: Gatekeeper,
        *,
        challenge_prefix: str,
        cookie_name: str,
        max_body: int,
        failures: FailureLog,
    ) -> None:
        self.gatekeeper = gatekeeper
        self.challenge_prefix = challenge_prefix
        self.cookie_name = cookie_name
        self.max_body = max_body
        self._failures = failures

    def _proxied_scheme(self, scope: Scope) -> str | None:
        client = scope.get("client")
        return forwarded_scheme(
            client[0] if client else None,
            header_values(scope, b"x-forwarded-proto"),
            self.gatekeeper.settings.trusted_proxies,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = headers_of(scope)
        flavor = negotiate(headers.get("accept"))
        try:
            response = await self._challenge_endpoint(scope, receive, headers, flavor)
        except RequestRefused as refused:
            response = refused_response(flavor, refused)
        except Exception as exc:  # fail closed, as on the gated path
            await self._failures.record(
                f"{scope['method']} {scope['path']}", exc, self.gatekeeper.store
            )
            response = unavailable_response(flavor)
        await response(scope, receive, send)

    async def _challenge_endpoint(
        self, scope: Scope, receive: Receive, headers: dict[str, str], flavor: Flavor
    ) -> Response:
        challenge_id = scope["path"][len(self.challenge_prefix) :]
        action = self.challenge_prefix + challenge_id
        client = scope.get("client")
        visitor = Visitor(
            path=scope["path"],
            peer=client[0] if client else None,
            forwarded_for=tuple(header_values(scope, b"x-forwarded-for")),
        )
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        next_path = safe_next(query.get("next", [None])[0])
        method = scope["method"]
        if method == "GET":
            try:
                issued = await self.gatekeeper.challenges.view(challenge_id)
            except ChallengeGone:
                return gone_response(flavor, next_path)
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
            return gone_response(flavor, next_path)
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
            return gone_response(flavor, next_path)
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


def _wrong_sentence(attempts_left: int) -> str:
    return f"That is not the hidden word. {attempts_left} attempt(s) left."
