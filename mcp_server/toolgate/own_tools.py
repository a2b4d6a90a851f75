"""The gate's own tools, ``gate_challenge`` and ``gate_solve``, for clients that cannot be asked in
band, and the ``tools/list`` that shows them and each priced tool's price."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gate.answers import MAX_ANSWERS, readable_answer
from gate.errors import ChallengeGone, ChallengeMismatch, TooEarly, WrongAnswer
from gate.gatekeeper import Challenge, Deny, Gatekeeper, Throttle
from gate.puzzle import puzzle_text
from gate.refusals import refusal, tool_wording
from gate.rules import Action, Rule
from mcp_server.toolgate.caller import caller_of
from mcp_server.toolgate.names import CHALLENGE_TOOL, PASS_META_KEY, PRICE_META_KEY, SOLVE_TOOL
from mcp_server.toolgate.results import UNREADABLE, challenge_payload, error, ok, refused

# Opens the gatekeeper on first use: a malformed call is answered without it.
OpenGate = Callable[[], Awaitable[Gatekeeper]]


async def challenge_tool(
    open_gate: OpenGate, rules: Mapping[str, Rule], ctx: Any, params: dict[str, Any]
) -> Any:
    arguments = params.get("arguments") or {}
    tool = arguments.get("tool")
    rule = rules.get(tool) if isinstance(tool, str) else None
    if rule is None:
        return error(f"{tool!r} is not a priced tool; call it directly.", code="not_priced")
    gatekeeper = await open_gate()
    assert isinstance(tool, str)  # a rule was found for it
    decision = await gatekeeper.decide(caller_of(ctx).visitor(), rule)
    if isinstance(decision, Deny | Throttle):
        return refused(refusal(decision, tool_wording(tool)))
    if not isinstance(decision, Challenge):
        return error(f"{tool!r} cannot be paid for.", code="denied")
    payload = challenge_payload(decision.challenge, tool)
    return ok(
        f"{puzzle_text(decision.challenge.puzzle)}\n\nChallenge id: {decision.challenge.challenge_id}",
        payload,
    )


async def solve_tool(open_gate: OpenGate, ctx: Any, params: dict[str, Any]) -> Any:
    arguments = params.get("arguments") or {}
    challenge_id, answers = arguments.get("challenge_id"), arguments.get("answers")
    if isinstance(answers, str):
        answers = [answers]
    if (
        not isinstance(challenge_id, str)
        or not isinstance(answers, list)
        or not all(isinstance(a, str) for a in answers)
        or not 0 < len(answers) <= MAX_ANSWERS
    ):
        return error("Give challenge_id and answers (a list of hidden words).", code="malformed")
    if not all(readable_answer(answer) for answer in answers):
        return error(UNREADABLE, code="malformed_answer")
    gatekeeper = await open_gate()
    try:
        minted = await gatekeeper.challenges.solve(
            challenge_id, caller_of(ctx).identity_for(gatekeeper), answers
        )
    except WrongAnswer as wrong:
        return error(
            f"That is not the hidden word; {wrong.attempts_left} attempt(s) left.",
            code="wrong_answer",
            attempts_left=wrong.attempts_left,
        )
    except (ChallengeGone, ChallengeMismatch):
        return error(
            "This puzzle is unknown, expired, solved or out of attempts.", code="challenge_gone"
        )
    except TooEarly as early:
        return error(
            f"Answers to this puzzle are checked from {early.retry_after} second(s) from now; "
            "nothing was judged and no attempt was used. Call gate_solve again then.",
            code="too_early",
            retry_after=early.retry_after,
        )
    claims = minted.claims
    payload = {
        "pass": minted.token,
        "scope": claims.scope,
        "budget": claims.budget,
        "expires_at": claims.expires_at,
        "price": claims.price,
        "meta_key": PASS_META_KEY,
    }
    return ok(f"Solved. Send this pass in the request _meta under {PASS_META_KEY!r}.", payload)


def annotate(result: Any, rules: Mapping[str, Rule], declared: dict[str, bool]) -> Any:
    """A ``tools/list`` result with prices on the priced tools and the gate's tools added;
    records in ``declared`` which tools declare an ``outputSchema``."""
    if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
        return result
    tools = []
    for tool in result["tools"]:
        name = tool.get("name") if isinstance(tool, dict) else None
        if isinstance(tool, dict) and isinstance(name, str):
            declared[name] = tool.get("outputSchema") is not None
        rule = rules.get(name) if isinstance(name, str) else None
        if rule is not None and rule.action is Action.PRICE:
            note = (
                f"\n\nPrice: about {rule.price} solver tokens buys a pass for {rule.budget} calls "
                f"(Reasoning Gate). Calling it without a pass asks you to solve a word puzzle; or call "
                f"{CHALLENGE_TOOL} and {SOLVE_TOOL} first and send the pass in the request _meta under "
                f"{PASS_META_KEY!r}."
            )
            tool = {
                **tool,
                "description": ((tool.get("description") or "") + note).lstrip(),
                "_meta": {
                    **(tool.get("_meta") or {}),
                    PRICE_META_KEY: {
                        "tokens": rule.price,
                        "budget": rule.budget,
                        "pass_ttl": rule.pass_ttl,
                        "scope": rule.scope,
                    },
                },
            }
        tools.append(tool)
    names = {tool.get("name") for tool in tools if isinstance(tool, dict)}
    tools += [t for t in _GATE_TOOLS if t["name"] not in names]
    return {**result, "tools": tools}


_GATE_TOOLS: list[dict[str, Any]] = [
    {
        "name": CHALLENGE_TOOL,
        "description": (
            "Reasoning Gate: get a word puzzle whose solution buys a pass for a priced tool. Answer every "
            "clue; the first letters of the answers spell each hidden word; then call gate_solve."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "tool": {"type": "string", "description": "The priced tool you want to call."}
            },
            "required": ["tool"],
        },
    },
    {
        "name": SOLVE_TOOL,
        "description": (
            "Reasoning Gate: submit the hidden word(s) of a puzzle from gate_challenge (or from a priced "
            f"tool's error). Returns a pass: send it in the request _meta under {PASS_META_KEY!r}."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "challenge_id": {"type": "string"},
                "answers": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Hidden words, in order.",
                },
            },
            "required": ["challenge_id", "answers"],
        },
    },
]
