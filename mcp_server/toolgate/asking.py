"""Putting the puzzle to the client in band, and reading its answer back.

- 2026-07-28 protocol: an ``InputRequiredResult`` whose sealed ``request_state`` the client
  echoes with its answer (``input_required``);
- older protocols: an ``elicitation/create`` request, where the client declared elicitation
  (``elicit``).

Both ask the same question (``elicit_params``): the puzzle in words, and as data in ``_meta``.
"""

from __future__ import annotations

from typing import Any

from gate.answers import MAX_ANSWERS
from gate.puzzle import puzzle_text, puzzle_to_dict
from mcp_server.toolgate.caller import Caller
from mcp_server.toolgate.names import ANSWER_KEY, PUZZLE_META_KEY
from mcp_server.toolgate.request_state import RequestStates
from mcp_server.toolgate.results import UNREADABLE

_MODERN = "2026-07-28"


class Unread:
    """An in-band answer refused unjudged (``readable_answer``): asked again, no attempt used."""


UNREAD = Unread()


def modern(ctx: Any) -> bool:
    """Whether the client speaks the 2026-07-28 protocol (input requests, sealed state)."""
    from mcp_types.version import is_version_at_least

    version = getattr(ctx, "protocol_version", None)
    return isinstance(version, str) and bool(version) and is_version_at_least(version, _MODERN)


def can_elicit(ctx: Any) -> bool:
    capabilities = getattr(getattr(ctx, "session", None), "client_capabilities", None)
    return getattr(capabilities, "elicitation", None) is not None


async def input_required(
    states: RequestStates,
    params: dict[str, Any],
    caller: Caller,
    challenge_id: str,
    issued: Any,
    notice: str | None,
) -> Any:
    """The 2026-07-28 question: answer in ``inputResponses``, echoing the sealed state."""
    state = await states.seal(params, caller, {"challenge": challenge_id})
    import mcp_types as types

    return types.InputRequiredResult(
        input_requests={ANSWER_KEY: types.ElicitRequest(params=elicit_params(issued, notice))},
        request_state=state,
    )


async def elicit(ctx: Any, params: Any) -> Any:
    """Legacy elicitation with our ``_meta`` (``ServerSession.elicit_form`` cannot send one)."""
    import mcp_types as types
    from mcp.shared.message import ServerMessageMetadata

    return await ctx.session.send_request(
        types.ElicitRequest(params=params),
        types.ElicitResult,
        metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
    )


def elicit_params(issued: Any, notice: str | None) -> Any:
    """The question put to the client: the puzzle in words, and in ``_meta`` as data for programs."""
    import mcp_types as types

    message = puzzle_text(issued.puzzle)
    if notice:
        message = f"{notice}\n\n{message}"
    return types.ElicitRequestFormParams(
        message=message,
        requested_schema=_answer_schema(issued.puzzle),
        _meta={
            PUZZLE_META_KEY: {
                "challenge_id": issued.challenge_id,
                "price": issued.price,
                "attempts": issued.attempts,
                "puzzle": puzzle_to_dict(issued.puzzle),
            }
        },
    )


def _answer_schema(puzzle: Any) -> dict[str, Any]:
    gates = len(puzzle.gates)
    properties = {
        f"hidden_word_{n}": {
            "type": "string",
            "title": f"Hidden word {n}" if gates > 1 else "Hidden word",
            "description": f"{gate.length} letters: the initials of the answers to the clues, in order",
            "maxLength": 64,
        }
        for n, gate in enumerate(puzzle.gates, start=1)
    }
    return {"type": "object", "properties": properties, "required": list(properties)}


def answers_from(reply: Any) -> list[str] | None:
    """The hidden words from an elicitation result, or None when declined or unusable."""
    if not isinstance(reply, dict) or reply.get("action") != "accept":
        return None
    content = reply.get("content")
    if not isinstance(content, dict):
        return None
    words = []
    for n in range(1, MAX_ANSWERS + 1):
        value = content.get(f"hidden_word_{n}")
        if value is None:
            break
        if not isinstance(value, str):
            return None
        words.append(value)
    return words or None


def notice(outcome: int | Unread) -> str:
    """What the client is told when asked again: attempts left after a wrong answer, or why an
    answer was not judged."""
    if isinstance(outcome, Unread):
        return UNREADABLE
    return f"That is not the hidden word; {outcome} attempt(s) left."
