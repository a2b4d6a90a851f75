"""The gate's short answers that carry no puzzle, in the flavour the client asked for: a refused
request (400), a spent challenge (410), a puzzle still being prepared (429), headers too large
(431) and the gate failing closed (503)."""

from __future__ import annotations

from starlette.responses import Response

from gate.errors import RequestRefused
from middleware.negotiate import Flavor
from middleware.render import message_response

__all__ = [
    "gone_response",
    "headers_too_large_response",
    "pending_response",
    "refused_response",
    "unavailable_response",
]


def unavailable_response(flavor: Flavor) -> Response:
    return message_response(
        503,
        "Temporarily unavailable",
        "The gate could not check this request; retry later.",
        flavor=flavor,
        error="gate_unavailable",
        headers={"Retry-After": "5"},
    )


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


def refused_response(flavor: Flavor, refused: RequestRefused) -> Response:
    title, message = _REFUSALS.get(refused.code, ("Bad request", "The request was refused."))
    return message_response(400, title, message, flavor=flavor, error=refused.code)


def headers_too_large_response(flavor: Flavor, sentence: str) -> Response:
    return message_response(
        431, "Headers too large", sentence, flavor=flavor, error="headers_too_large"
    )


def pending_response(flavor: Flavor, retry_after: int) -> Response:
    return message_response(
        429,
        "One moment",
        "Your puzzle is being prepared by another of your requests; retry in a moment.",
        flavor=flavor,
        error="challenge_pending",
        headers={"Retry-After": str(retry_after)},
        extra={"retry_after": retry_after},
    )


def gone_response(flavor: Flavor, next_path: str = "/") -> Response:
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
