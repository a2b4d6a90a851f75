"""Turn gate outcomes into HTTP responses in the flavour the client asked for.

HTML is rendered by Jinja2 with autoescaping on, so clue text, paths and messages can never inject
markup.  No response built here ever includes an expected answer: the renderers only see the public
puzzle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import Response

from gate.challenges import IssuedChallenge
from middleware.negotiate import Flavor

SCHEME = "ReasoningGate"
HUMAN_SECONDS_PER_CLUE = 20  # what the HTML form tells a person to expect, per clue

_templates = Environment(
    loader=PackageLoader("middleware", "templates"),
    autoescape=select_autoescape(["html"], default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

# Every gate answer depends on Accept and on who asks: never cache or share it.
NO_STORE = {"Cache-Control": "no-store", "Vary": "Accept"}

# Why the client is being asked to pay (the ``reason`` of the WWW-Authenticate header), in words.
_WHY = {
    "missing": "No pass was presented.",
    "invalid": "The pass presented is not valid.",
    "expired": "The pass presented has expired.",
    "not_applicable": "The pass presented does not cover this resource or this client.",
    "exhausted": "The pass presented has used up its request budget.",
    "revoked": "The pass presented was revoked by the site's operator.",
    "reset": "The pass presented predates a reset of the gate's state; its budget cannot be known.",
}

# The same, for a person on the HTML form: one sentence saying why this page asks for a puzzle.
_WHY_PERSON = {
    "missing": "You have no pass for this part of the site yet; solving the puzzle gives you one.",
    "invalid": "The pass your browser sent is not valid here; solving the puzzle gives you a new one.",
    "expired": "Your pass for this part of the site has expired; solving the puzzle gives you a new one.",
    "not_applicable": "Your pass does not cover this page (another part of the site, another "
    "network, or rules that have changed); solving the puzzle gives you one that does.",
    "exhausted": "Your pass has opened all the pages it paid for; solving the puzzle gives you a new one.",
    "revoked": "The site's operator withdrew your pass; solving the puzzle gives you a new one.",
    "reset": "The site restarted and can no longer tell what your pass has paid for; solving the "
    "puzzle gives you a new one.",
}


def person_reason(reason: str, free: tuple[int, float] = (0, 60)) -> str:
    """Why a person sees the puzzle, in one sentence (empty when it is shown again on request)."""
    allowance, window = free
    if reason == "missing" and allowance > 0:
        return (
            f"You have opened more than {allowance} pages here in {window:g} seconds, the free "
            "allowance; solving the puzzle gives you a pass."
        )
    return _WHY_PERSON.get(reason, "")


_ERRORS = {429: "too_early"}  # a challenge shown again with an error: by status

_MEDIA = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "text": "text/markdown; charset=utf-8",
    "plain": "text/plain; charset=utf-8",
}


def _quote(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def authenticate_header(challenge_url: str, price: int, tier: int, reason: str) -> str:
    params = {
        "realm": "reasoning-gate",
        "challenge": challenge_url,
        "price": price,
        "tier": tier,
        "reason": reason,
    }
    return SCHEME + " " + ", ".join(f"{name}={_quote(value)}" for name, value in params.items())


def challenge_response(
    issued: IssuedChallenge,
    *,
    flavor: Flavor,
    action: str,
    next_path: str,
    reason: str,
    now: float,
    status: int = 401,
    error: str | None = None,
    free: tuple[int, float] = (0, 60),
) -> Response:
    """``free``: the rule's free allowance per rate window, (requests, seconds), which the HTML
    form names when a person was challenged past it."""
    minutes = max(1, math.ceil((issued.expires_at - now) / 60))
    headers = dict(NO_STORE)
    if status == 401:  # the header belongs to "credentials required" answers only
        headers["WWW-Authenticate"] = authenticate_header(
            action, issued.price, issued.puzzle.tier, reason
        )
    if flavor == "html":
        clues = sum(gate.length for gate in issued.puzzle.gates)
        body = _templates.get_template("challenge.html").render(
            puzzle=issued.puzzle,
            action=action,
            next=next_path,
            attempts=issued.attempts,
            minutes=minutes,
            # People are told time, not tokens: a rough reading-and-thinking pace per clue.
            estimate=max(1, math.ceil(clues * HUMAN_SECONDS_PER_CLUE / 60)),
            error=error,
            why=person_reason(reason, free),
        )
    elif flavor in ("text", "plain"):
        body = _templates.get_template("challenge.md").render(
            puzzle=issued.puzzle,
            action=action,
            attempts=issued.attempts,
            minutes=minutes,
            floor=math.ceil(issued.floor),
            price=issued.price,
            basis=basis_words(issued.puzzle.basis),
            why=_WHY.get(reason, ""),
            scheme=SCHEME,
            heading="Pass required: solve a reasoning puzzle" if status == 401 else "Puzzle",
        )
        if error:
            body = f"**{error}**\n\n{body}"
    else:
        gates = len(issued.puzzle.gates)
        payload: dict[str, Any] = {}
        if status != 200:
            payload["error"] = (
                "challenge_required" if error is None else _ERRORS.get(status, "wrong_answer")
            )
        if status == 401:
            payload["reason"] = reason
        payload |= {
            "challenge": {
                "id": issued.challenge_id,
                "url": action,
                **issued.public(),
                "submit": {
                    "method": "POST",
                    "url": action,
                    "body": {"answers": [f"<hidden word {n}>" for n in range(1, gates + 1)]},
                },
                "instructions": "Answer every clue; the first letters of the answers spell each "
                "hidden word. POST the hidden words in gate order.",
            },
        }
        if error:
            payload["message"] = error
        body = json.dumps(payload)
    return Response(body, status_code=status, headers=headers, media_type=_MEDIA[flavor])


def basis_words(basis: Mapping[str, Any]) -> str:
    """A price basis in one phrase, for people and for agents reading prose."""
    models = ", ".join(basis.get("models") or ())
    if basis.get("kind") == "measured":
        return f"measured with {models}"
    if basis.get("kind") == "mixed":
        return f"{basis['measured_clues']} of {basis['clues']} clue costs measured with {models}"
    return "an estimate: the tier's default cost per clue, not yet measured"


def message_response(
    status: int,
    title: str,
    message: str,
    *,
    flavor: Flavor,
    error: str,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    link: tuple[str, str] | None = None,
) -> Response:
    if flavor == "html":
        body = _templates.get_template("message.html").render(
            title=title,
            message=message,
            link=link[0] if link else None,
            link_text=link[1] if link else None,
        )
    elif flavor in ("text", "plain"):
        body = f"# {title}\n\n{message}\n"
    else:
        body = json.dumps({"error": error, "message": message, **(extra or {})})
    return Response(
        body, status_code=status, headers={**NO_STORE, **(headers or {})}, media_type=_MEDIA[flavor]
    )
