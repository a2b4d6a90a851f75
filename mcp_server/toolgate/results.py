"""The results the gate answers a ``tools/call`` with, itself: its own tools' answers, and errors
that carry their payload in structured content and in ``_meta``."""

from __future__ import annotations

from typing import Any

from gate.answers import MAX_ANSWER_LENGTH
from gate.challenges import IssuedChallenge
from gate.refusals import Refusal
from mcp_server.toolgate.names import ERROR_META_KEY

# The HTTP solve endpoint's 422 ``malformed_answer`` (gate.answers.readable_answer), in words.
UNREADABLE = (
    f"An answer is over {MAX_ANSWER_LENGTH} characters, holds control or format characters, or mixes letters "
    "of several scripts (a confusable spelling no hidden word has); nothing was judged and no "
    "attempt was used. Answer with the hidden word(s) in plain letters."
)


def ok(text: str, structured: dict[str, Any]) -> Any:
    import mcp_types as types

    # A model, not a dict: the SDK serialises it for the protocol version in use.
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=structured
    )


def error(text: str, **structured: Any) -> Any:
    """An error result made by the gate; ``code`` becomes the payload's ``error``."""
    import mcp_types as types

    payload = {"error": structured.pop("code"), **structured}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=payload,
        is_error=True,
        _meta={ERROR_META_KEY: payload},
    )


def refused(refusal: Refusal) -> Any:
    return error(refusal.message, code=refusal.code, **refusal.fields)


def made_by_gate(result: Any) -> bool:
    meta = getattr(result, "meta", None)
    return (
        bool(getattr(result, "is_error", False))
        and isinstance(meta, dict)
        and ERROR_META_KEY in meta
    )


def without_structured(result: Any) -> Any:
    """The gate's error for a tool with an output schema: its payload stays in ``_meta`` only,
    since structured content must match the tool's schema, in every SDK."""
    return result.model_copy(update={"structured_content": None})


def challenge_payload(issued: IssuedChallenge, tool: str) -> dict[str, Any]:
    """An issued challenge as data, for programs (the puzzle is in the result's text too)."""
    return {"challenge_id": issued.challenge_id, "tool": tool, **issued.public()}


def wire(result: Any) -> Any:
    """A result as the JSON the protocol carries (models are dumped; dicts already are)."""
    if hasattr(result, "model_dump"):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return result
