"""Paying for a priced tool call: the gate's decision, then, for a call without a usable pass, a
puzzle put to the client (in band where it can be asked, else an error naming the gate's tools),
and the pass its answer mints spent on the call in progress."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gate.answers import readable_answer
from gate.errors import ChallengeGone, ChallengeMismatch, TooEarly, WrongAnswer
from gate.failures import FailureLog
from gate.gatekeeper import Allow, Challenge, Deny, Gatekeeper, Throttle
from gate.puzzle import puzzle_text
from gate.refusals import refusal, tool_wording
from gate.rules import Rule
from mcp_server.toolgate.asking import (
    UNREAD,
    Unread,
    answers_from,
    can_elicit,
    elicit,
    elicit_params,
    input_required,
    modern,
    notice,
)
from mcp_server.toolgate.call import PricedCall
from mcp_server.toolgate.caller import caller_of
from mcp_server.toolgate.names import ANSWER_KEY, CHALLENGE_TOOL, PASS_META_KEY, SOLVE_TOOL
from mcp_server.toolgate.request_state import RequestStates
from mcp_server.toolgate.results import UNREADABLE, challenge_payload, error, refused, wire
from mcp_server.toolgate.running import run_tool

log = logging.getLogger("reasoning_gate.mcp")


async def priced_call(
    gatekeeper: Gatekeeper,
    states: RequestStates,
    failures: FailureLog,
    ctx: Any,
    call_next: Any,
    params: dict[str, Any],
    rule: Rule,
) -> Any:
    """The result of a ``tools/call`` of a priced tool: the tool's, once paid, or the gate's."""
    caller = caller_of(ctx)
    name = params["name"]
    request_meta = params.get("_meta") or {}
    token = request_meta.get(PASS_META_KEY)
    responses = dict(params.get("inputResponses") or {})
    answer = responses.pop(ANSWER_KEY, None)
    call = PricedCall(
        gatekeeper,
        states,
        failures,
        ctx,
        call_next,
        params,
        rule,
        caller,
        meta={k: v for k, v in request_meta.items() if k != PASS_META_KEY},
        responses=responses,
    )
    state = await states.open(params.get("requestState"), name, params, caller)

    if state is not None and state.get("paid"):
        # A later round of the tool's own input exchange: this call was paid already.
        return await run_tool(call, state, None)
    if state is not None and state.get("challenge"):
        return await _answered(call, state, answer)

    tokens = (token,) if isinstance(token, str) else ()
    decision = await gatekeeper.decide(caller.visitor(tokens), rule)
    if isinstance(decision, Allow):
        return await run_tool(call, state, decision)
    if isinstance(decision, Deny | Throttle):
        return refused(refusal(decision, tool_wording(name)))
    assert isinstance(decision, Challenge)
    return await _ask(call, decision)


async def _ask(call: PricedCall, decision: Challenge) -> Any:
    issued = decision.challenge
    if modern(call.ctx) and can_elicit(call.ctx):
        return await input_required(
            call.states, call.params, call.caller, issued.challenge_id, issued, None
        )
    if can_elicit(call.ctx):
        outcome = await _elicit_until_solved(call, issued)
        if not isinstance(outcome, str):
            return outcome  # an error result
        return await _spend_and_run(call, outcome)
    name = call.name
    return error(
        f"Calling {name!r} costs about {issued.price} solver tokens: solve a puzzle first. "
        f"Call the tool {SOLVE_TOOL!r} with challenge_id {issued.challenge_id!r} and the hidden "
        f"word(s), or {CHALLENGE_TOOL!r} for a new puzzle, then call {name!r} again "
        f"with the pass in the request _meta under {PASS_META_KEY!r}.\n\n{puzzle_text(issued.puzzle)}",
        code="payment_required",
        challenge=challenge_payload(issued, name),
        pass_meta_key=PASS_META_KEY,
        tools={"challenge": CHALLENGE_TOOL, "solve": SOLVE_TOOL},
    )


async def _answered(call: PricedCall, state: dict[str, Any], answer: Any) -> Any:
    """A 2026-07-28 client's answer, echoed with the sealed state of the question."""
    challenge_id = state["challenge"]
    outcome = await _check(call, challenge_id, answer)
    if isinstance(outcome, int | Unread):  # not solved, may answer again: a fresh state
        issued = await call.gatekeeper.challenges.view(challenge_id)
        return await input_required(
            call.states, call.params, call.caller, challenge_id, issued, notice(outcome)
        )
    if not isinstance(outcome, str):
        return outcome  # an error result
    return await _spend_and_run(call, outcome)


async def _elicit_until_solved(call: PricedCall, issued: Any) -> Any:
    """Legacy protocol: ask through elicitation until solved or out of attempts."""
    gatekeeper = call.gatekeeper
    asked_again = ""
    unread = 0  # unjudged replies cost no attempt, so they are bounded here instead
    while True:
        try:
            reply = await elicit(call.ctx, elicit_params(issued, asked_again))
        except Exception as exc:  # no back channel (stateless HTTP) or the client refused
            log.info("elicitation unavailable: %s", exc)
            return error(
                f"Solve the puzzle with {SOLVE_TOOL!r} (challenge_id {issued.challenge_id!r}), then "
                f"retry with the pass in _meta under {PASS_META_KEY!r}.\n\n{puzzle_text(issued.puzzle)}",
                code="payment_required",
                challenge=challenge_payload(issued, ""),
                pass_meta_key=PASS_META_KEY,
            )
        outcome = await _check(call, issued.challenge_id, reply)
        if isinstance(outcome, Unread):
            unread += 1
            if unread > gatekeeper.settings.max_attempts:
                return error(UNREADABLE, code="malformed_answer")
        elif not isinstance(outcome, int):
            return outcome  # the pass token, or an error result
        asked_again = notice(outcome)
        issued = await gatekeeper.challenges.view(issued.challenge_id)


async def _check(call: PricedCall, challenge_id: str, reply: Any) -> Any:
    """Check an elicitation reply: the new pass token (str), the attempts left after a wrong
    answer (int > 0), ``UNREAD`` for an answer not judged at all, or an error result."""
    words = answers_from(wire(reply))
    if words is None:
        return error("Payment declined: no answer was given.", code="payment_declined")
    if not all(readable_answer(word) for word in words):
        return UNREAD
    gatekeeper = call.gatekeeper
    identity = call.caller.identity_for(gatekeeper)
    try:
        try:
            minted = await gatekeeper.challenges.solve(challenge_id, identity, words)
        except TooEarly as early:
            # The client already answered in band (its request state is spent): hold the
            # answer until the floor has passed rather than make it answer again.
            await asyncio.sleep(early.retry_after)
            minted = await gatekeeper.challenges.solve(challenge_id, identity, words)
    except WrongAnswer as wrong:
        if wrong.attempts_left > 0:
            return wrong.attempts_left
        return error(
            "Wrong answer, and no attempts are left. Call the tool again for a new puzzle.",
            code="wrong_answer",
            attempts_left=0,
        )
    except (ChallengeGone, ChallengeMismatch):
        return error(
            "This puzzle is no longer valid. Call the tool again for a new one.",
            code="challenge_gone",
        )
    return minted.token


async def _spend_and_run(call: PricedCall, token: str) -> Any:
    """Pay for the call with the pass just minted, and run it (the pass rides in the receipt)."""
    decision = await call.gatekeeper.decide(call.caller.visitor((token,)), call.rule)
    if not isinstance(decision, Allow):  # a fresh pass that does not pay: fail closed
        return error("The pass could not be used; call the tool again.", code="pass_refused")
    return await run_tool(call, None, decision, token)
