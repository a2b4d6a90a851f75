"""``ToolGate``: prices on the tools of an MCP server, paid with the same passes as HTTP.

    gate = ToolGate(tool_rules({"search": 2_000}))
    gate.install(server)            # an MCPServer or a low-level Server

The gate is a server middleware, so it needs nothing from the tool bodies.  For a priced tool
called without a usable pass it asks the client to solve a puzzle:

- 2026-07-28 protocol: an ``InputRequiredResult`` whose ``request_state`` is sealed with the
  gate's key, bound to the challenge, the client, the tool and its arguments, and usable once;
- older protocols: an elicitation request, where the client declared elicitation support;
- anything else: an error result telling the agent, in words and in structured content, to call
  the gate's own tools ``gate_challenge`` and ``gate_solve`` and retry with the pass in the request
  ``_meta`` under ``reasoning-gate/pass``.

A solved puzzle mints a pass; it pays for the call in progress and comes back in the result's
``_meta`` so the next calls can spend it.  Every failure inside the gate refuses the call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gate.answers import MAX_ANSWER_LENGTH, readable_answer
from gate.config import GateConfig
from gate.errors import (
    ChallengeGone,
    ChallengeMismatch,
    ChallengePending,
    GateError,
    StateInvalid,
    TooEarly,
    WrongAnswer,
)
from gate.failures import FailureLog
from gate.gatekeeper import Allow, Challenge, Deny, Gatekeeper, Throttle, Visitor
from gate.pricing import max_puzzle_price
from gate.puzzle import puzzle_text, puzzle_to_dict
from gate.refusals import Refusal, refusal, tool_wording
from gate.rules import Action, Rule, RuleSet
from gate.sealing import Sealer
from gate.store import Put, Take

log = logging.getLogger("reasoning_gate.mcp")

PASS_META_KEY = "reasoning-gate/pass"
BUDGET_META_KEY = "reasoning-gate/budget-remaining"
PRICE_META_KEY = "reasoning-gate/price"
PUZZLE_META_KEY = "reasoning-gate/puzzle"  # the puzzle as data, in the elicitation request _meta
# Every error result the gate makes carries its structured payload here too: a tool that declares an
# outputSchema gets its errors without structuredContent (TS SDK 1.x clients validate that even on
# errors, and the gate's payload is not the tool's output), so this is where programs read it.
ERROR_META_KEY = "reasoning-gate/error"
ANSWER_KEY = "reasoning-gate/answer"  # the input request a client answers with the hidden words
STDIO_IDENTITY = "mcp:stdio"  # a stdio server has exactly one client: the process that spawned it
_RESERVED_META = "io.modelcontextprotocol/"
_MODERN = "2026-07-28"
_STATE_PURPOSE = "mcp-request-state"

CHALLENGE_TOOL = "gate_challenge"
SOLVE_TOOL = "gate_solve"
MAX_ANSWERS = 16
# The HTTP solve endpoint's 422 ``malformed_answer`` (gate.answers.readable_answer), in words.
UNREADABLE = (
    f"An answer is over {MAX_ANSWER_LENGTH} characters, holds control or format characters, or mixes letters "
    "of several scripts (a confusable spelling no hidden word has); nothing was judged and no "
    "attempt was used. Answer with the hidden word(s) in plain letters."
)


class _Unread:
    """An in-band answer refused unjudged (``readable_answer``): asked again, no attempt used."""


_UNREAD = _Unread()


def tool_rules(
    prices: Mapping[str, int],
    *,
    budget: int = 20,
    pass_ttl: int = 3_600,
    scope: str | None = None,
) -> dict[str, Rule]:
    """Rules for tools by name; ``scope`` shares one pass between all of them (and with HTTP
    rules that name the same scope and terms)."""
    return {
        tool: Rule(scope=scope or f"mcp:{tool}", price=price, budget=budget, pass_ttl=pass_ttl)
        for tool, price in prices.items()
    }


class _ToolFailure(Exception):
    """Carries an exception raised by the tool itself past the gate's fail-closed handler."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


@dataclass(frozen=True, slots=True)
class _Caller:
    identity: str
    peer: str | None
    forwarded_for: tuple[str, ...]

    def visitor(self, tokens: tuple[str, ...] = ()) -> Visitor:
        return Visitor(
            path="",
            peer=self.peer,
            forwarded_for=self.forwarded_for,
            tokens=tokens,
            identity=None if self.peer else self.identity,
        )

    def identity_for(self, gatekeeper: Gatekeeper) -> str:
        """HTTP clients are their network, as over HTTP, so passes work across both."""
        return gatekeeper.identity(self.visitor())


class ToolGate:
    def __init__(
        self,
        rules: Mapping[str, Rule] | None = None,
        *,
        gatekeeper: Gatekeeper | None = None,
        config: GateConfig | None = None,
    ) -> None:
        self.rules: dict[str, Rule] = dict(rules or {})
        self._gatekeeper = gatekeeper
        self._config = config
        self._runtime: Any = None
        self._lock = asyncio.Lock()
        self._sealer: Sealer | None = None
        self._failures = FailureLog(log)  # one line per cause per minute, never one per call
        # Which tools declare an outputSchema, from the listings seen and from ``output_schemas``.
        self._declared: dict[str, bool] = {}
        self._listing: Callable[[], Awaitable[Mapping[str, bool]]] | None = None

    # -- set-up ------------------------------------------------------------------------------------

    def price(
        self,
        tokens: int,
        *,
        name: str | None = None,
        budget: int = 20,
        pass_ttl: int = 3_600,
        scope: str | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form: ``@mcp.tool()`` over ``@gate.price(2_000)`` over the function."""

        def record(fn: Callable[..., Any]) -> Callable[..., Any]:
            tool = name or fn.__name__
            self.rules.update(
                tool_rules({tool: tokens}, budget=budget, pass_ttl=pass_ttl, scope=scope)
            )
            return fn

        return record

    def install(
        self,
        server: Any,
        *,
        output_schemas: Callable[[], Awaitable[Mapping[str, bool]]] | None = None,
    ) -> None:
        """Put the gate in front of every request ``server`` handles (MCPServer or low-level).

        ``output_schemas`` tells, by tool name, which tools declare an ``outputSchema`` (an
        ``MCPServer``'s own tools are looked up without it); the gate's error results for those
        carry no ``structuredContent``.
        """
        if output_schemas is None and hasattr(server, "list_tools") and hasattr(server, "tool"):
            mcp_server = server  # an MCPServer: its tool list is at hand

            async def listed() -> Mapping[str, bool]:
                return {t.name: t.output_schema is not None for t in await mcp_server.list_tools()}

            output_schemas = listed
        self._listing = output_schemas
        server.middleware.append(self.middleware)

    async def _declares_output(self, name: str) -> bool:
        """Whether ``name`` declares an output schema; unknown counts as yes (no structured
        content is the form every client accepts)."""
        if name not in self._declared and self._listing is not None:
            try:
                self._declared.update(await self._listing())
            except Exception as exc:
                await self._failures.record("tools/list for output schemas", exc)
        return self._declared.get(name, True)

    async def gatekeeper(self) -> Gatekeeper:
        if self._gatekeeper is None:
            async with self._lock:
                if self._gatekeeper is None:
                    from serving.runtime import open_runtime

                    self._runtime = await open_runtime(
                        self._config or GateConfig.from_env(), RuleSet([])
                    )
                    self._gatekeeper = self._runtime.gatekeeper
        gatekeeper = self._gatekeeper
        if self._sealer is None:
            self._check_rules(gatekeeper)
            self._sealer = Sealer(gatekeeper.passes.keys, _STATE_PURPOSE, clock=gatekeeper.clock)
        return gatekeeper

    async def aclose(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            await runtime.close()
            self._gatekeeper = None
            self._sealer = None

    def _check_rules(self, gatekeeper: Gatekeeper) -> None:
        settings = gatekeeper.settings
        for tool, rule in self.rules.items():
            cap = min(settings.max_price, max_puzzle_price(settings.agent_tier))
            if rule.action is Action.PRICE and rule.price > cap:
                raise GateError(
                    f"tool {tool!r}: price {rule.price} exceeds what one challenge can cost ({cap})"
                )

    # -- the middleware ----------------------------------------------------------------------------

    async def middleware(self, ctx: Any, call_next: Any) -> Any:
        method = ctx.method
        if method == "tools/list":
            return self._annotate(_wire(await call_next(ctx)))
        if method != "tools/call":
            return await call_next(ctx)
        params = dict(ctx.params or {})
        name = params.get("name")
        rule = self.rules.get(name) if isinstance(name, str) else None
        if rule is None and name not in (CHALLENGE_TOOL, SOLVE_TOOL):
            # Not the gate's business: the server's answer, JSON-RPC errors included, unchanged.
            return await call_next(ctx)
        result = await self._gated(ctx, call_next, params, name, rule)
        gate_error = rule is not None and _made_by_gate(result)
        if gate_error and isinstance(name, str) and await self._declares_output(name):
            return _without_structured(result)
        return result

    async def _gated(
        self, ctx: Any, call_next: Any, params: dict[str, Any], name: Any, rule: Rule | None
    ) -> Any:
        try:
            if name == CHALLENGE_TOOL:
                return await self._challenge_tool(ctx, params)
            if name == SOLVE_TOOL:
                return await self._solve_tool(ctx, params)
            assert rule is not None
            return await self._priced_call(ctx, call_next, params, rule)
        except _ToolFailure as failure:
            raise failure.original from None
        except StateInvalid as exc:
            log.info("refused request state for %s: %s", name, exc)
            return _error(
                "The answer's request state is invalid, expired or already used. Call the tool again "
                "for a new puzzle.",
                code="invalid_state",
            )
        except ChallengePending as pending:
            return _error(
                "A puzzle for this client is being prepared; call again in a moment.",
                code="challenge_pending",
                retry_after=pending.retry_after,
            )
        except Exception as exc:  # fail closed, and say why without internals
            store = self._gatekeeper.store if self._gatekeeper is not None else None
            await self._failures.record(f"tools/call {name}", exc, store)
            return _error(
                "The gate could not check this call; retry later.", code="gate_unavailable"
            )

    async def _priced_call(
        self, ctx: Any, call_next: Any, params: dict[str, Any], rule: Rule
    ) -> Any:
        gatekeeper = await self.gatekeeper()
        caller = _caller(ctx)
        name = params["name"]
        meta = {k: v for k, v in (params.get("_meta") or {}).items() if k != PASS_META_KEY}
        token = (params.get("_meta") or {}).get(PASS_META_KEY)
        responses = dict(params.get("inputResponses") or {})
        answer = responses.pop(ANSWER_KEY, None)
        state = await self._open_state(params.get("requestState"), name, params, caller)

        if state is not None and state.get("paid"):
            # A later round of the tool's own input exchange: this call was paid already.
            return await self._run(ctx, call_next, params, meta, responses, state, None)
        if state is not None and state.get("challenge"):
            return await self._answered(
                ctx, call_next, params, rule, caller, state, answer, meta, responses
            )

        tokens = (token,) if isinstance(token, str) else ()
        decision = await gatekeeper.decide(caller.visitor(tokens), rule)
        if isinstance(decision, Allow):
            return await self._run(ctx, call_next, params, meta, responses, state, decision)
        if isinstance(decision, Deny | Throttle):
            return _refused(refusal(decision, tool_wording(name)))
        assert isinstance(decision, Challenge)
        return await self._ask(ctx, call_next, params, rule, caller, decision, responses, meta)

    async def _ask(
        self,
        ctx: Any,
        call_next: Any,
        params: dict[str, Any],
        rule: Rule,
        caller: _Caller,
        decision: Challenge,
        responses: dict[str, Any],
        meta: dict[str, Any],
    ) -> Any:
        issued = decision.challenge
        if _modern(ctx) and _can_elicit(ctx):
            return await self._input_required(params, caller, issued.challenge_id, issued, None)
        if _can_elicit(ctx):
            outcome = await self._elicit_until_solved(ctx, caller, issued)
            if not isinstance(outcome, str):
                return outcome  # an error result
            return await self._spend_and_run(
                ctx, call_next, params, rule, caller, outcome, meta, responses
            )
        return _error(
            f"Calling {params['name']!r} costs about {issued.price} solver tokens: solve a puzzle first. "
            f"Call the tool {SOLVE_TOOL!r} with challenge_id {issued.challenge_id!r} and the hidden "
            f"word(s), or {CHALLENGE_TOOL!r} for a new puzzle, then call {params['name']!r} again "
            f"with the pass in the request _meta under {PASS_META_KEY!r}.\n\n{puzzle_text(issued.puzzle)}",
            code="payment_required",
            challenge=_challenge_payload(issued, params["name"]),
            pass_meta_key=PASS_META_KEY,
            tools={"challenge": CHALLENGE_TOOL, "solve": SOLVE_TOOL},
        )

    async def _answered(
        self,
        ctx: Any,
        call_next: Any,
        params: dict[str, Any],
        rule: Rule,
        caller: _Caller,
        state: dict[str, Any],
        answer: Any,
        meta: dict[str, Any],
        responses: dict[str, Any],
    ) -> Any:
        challenge_id = state["challenge"]
        outcome = await self._solve(challenge_id, caller, answer)
        if isinstance(outcome, int | _Unread):  # not solved, may answer again: a fresh state
            issued = await (await self.gatekeeper()).challenges.view(challenge_id)
            return await self._input_required(
                params, caller, challenge_id, issued, _notice(outcome)
            )
        if not isinstance(outcome, str):
            return outcome  # an error result
        return await self._spend_and_run(
            ctx, call_next, params, rule, caller, outcome, meta, responses
        )

    async def _solve(self, challenge_id: str, caller: _Caller, reply: Any) -> Any:
        """Check an elicitation reply: the new pass token (str), the attempts left after a wrong
        answer (int > 0), ``_UNREAD`` for an answer not judged at all, or an error result."""
        words = _answers_from(_wire(reply))
        if words is None:
            return _error("Payment declined: no answer was given.", code="payment_declined")
        if not all(readable_answer(word) for word in words):
            return _UNREAD
        gatekeeper = await self.gatekeeper()
        identity = caller.identity_for(gatekeeper)
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
            return _error(
                "Wrong answer, and no attempts are left. Call the tool again for a new puzzle.",
                code="wrong_answer",
                attempts_left=0,
            )
        except (ChallengeGone, ChallengeMismatch):
            return _error(
                "This puzzle is no longer valid. Call the tool again for a new one.",
                code="challenge_gone",
            )
        return minted.token

    async def _spend_and_run(
        self,
        ctx: Any,
        call_next: Any,
        params: dict[str, Any],
        rule: Rule,
        caller: _Caller,
        token: str,
        meta: dict[str, Any],
        responses: dict[str, Any],
    ) -> Any:
        gatekeeper = await self.gatekeeper()
        decision = await gatekeeper.decide(caller.visitor((token,)), rule)
        if not isinstance(decision, Allow):  # a fresh pass that does not pay: fail closed
            return _error("The pass could not be used; call the tool again.", code="pass_refused")
        return await self._run(ctx, call_next, params, meta, responses, None, decision, token)

    async def _run(
        self,
        ctx: Any,
        call_next: Any,
        params: dict[str, Any],
        meta: dict[str, Any],
        responses: dict[str, Any],
        state: dict[str, Any] | None,
        decision: Allow | None,
        minted: str | None = None,
    ) -> Any:
        """Call the tool with the gate's own keys removed and the tool's own state restored.

        The receipt (a pass minted for this call, the budget left) goes into the ``_meta`` of the
        call's final result; while the tool asks its own questions it rides in the sealed state,
        so it reaches the client after the last round.  A call that fails gives its use back.
        """
        inner = dict(params)
        for key in ("requestState", "inputResponses", "_meta"):
            inner.pop(key, None)
        if meta:
            inner["_meta"] = meta
        if responses:
            inner["inputResponses"] = responses
        if state is not None and state.get("inner") is not None:
            inner["requestState"] = state["inner"]
        paid = decision if decision is not None and decision.claims is not None else None
        receipt: dict[str, Any] = dict(state.get("receipt") or {}) if state is not None else {}
        if minted is not None:
            receipt[PASS_META_KEY] = minted
        if decision is not None and decision.remaining is not None:
            receipt[BUDGET_META_KEY] = decision.remaining
        try:
            result = _wire(await call_next(replace(ctx, params=inner)))
        except BaseException as exc:  # the tool's own failure: not the gate's to mask
            if paid is not None:
                await self._refund(paid)
            raise _ToolFailure(exc) from exc
        if not isinstance(result, dict):
            return result
        if result.get("resultType") == "input_required":
            # The tool asks its own questions: wrap its state so later rounds are not charged again.
            caller = _caller(ctx)
            sealed = await self._seal(
                params,
                caller,
                {"paid": True, "inner": result.get("requestState"), "receipt": receipt},
            )
            result = {**result, "requestState": sealed}
            if minted is not None:
                result.setdefault("_meta", {})[PASS_META_KEY] = minted
            return result
        if result.get("isError") and paid is not None and await self._refund(paid):
            receipt[BUDGET_META_KEY] = paid.remaining + 1 if paid.remaining is not None else None
        if receipt:
            extra = {k: v for k, v in receipt.items() if v is not None}
            result = {**result, "_meta": {**(result.get("_meta") or {}), **extra}}
        return result

    async def _refund(self, decision: Allow) -> bool:
        """Give back the use of the pass a failed call took; False when that cannot be done
        (the use stays counted: the safe side)."""
        try:
            await (await self.gatekeeper()).refund(decision)
        except Exception as exc:
            await self._failures.record("refund", exc)
            return False
        return True

    # -- asking for the answer --------------------------------------------------------------------

    async def _input_required(
        self,
        params: dict[str, Any],
        caller: _Caller,
        challenge_id: str,
        issued: Any,
        notice: str | None,
    ) -> Any:
        state = await self._seal(params, caller, {"challenge": challenge_id})
        import mcp_types as types

        return types.InputRequiredResult(
            input_requests={ANSWER_KEY: types.ElicitRequest(params=_elicit_params(issued, notice))},
            request_state=state,
        )

    async def _elicit_until_solved(self, ctx: Any, caller: _Caller, issued: Any) -> Any:
        """Legacy protocol: ask through elicitation until solved or out of attempts."""
        gatekeeper = await self.gatekeeper()
        notice = ""
        unread = 0  # unjudged replies cost no attempt, so they are bounded here instead
        while True:
            try:
                reply = await _elicit(ctx, _elicit_params(issued, notice))
            except Exception as exc:  # no back channel (stateless HTTP) or the client refused
                log.info("elicitation unavailable: %s", exc)
                return _error(
                    f"Solve the puzzle with {SOLVE_TOOL!r} (challenge_id {issued.challenge_id!r}), then "
                    f"retry with the pass in _meta under {PASS_META_KEY!r}.\n\n{puzzle_text(issued.puzzle)}",
                    code="payment_required",
                    challenge=_challenge_payload(issued, ""),
                    pass_meta_key=PASS_META_KEY,
                )
            outcome = await self._solve(issued.challenge_id, caller, reply)
            if isinstance(outcome, _Unread):
                unread += 1
                if unread > gatekeeper.settings.max_attempts:
                    return _error(UNREADABLE, code="malformed_answer")
            elif not isinstance(outcome, int):
                return outcome  # the pass token, or an error result
            notice = _notice(outcome)
            issued = await gatekeeper.challenges.view(issued.challenge_id)

    # -- sealed request state ---------------------------------------------------------------------

    async def _seal(self, params: dict[str, Any], caller: _Caller, claims: dict[str, Any]) -> str:
        gatekeeper = await self.gatekeeper()
        assert self._sealer is not None
        nonce = secrets.token_urlsafe(12)
        ttl = gatekeeper.settings.challenge_ttl
        await gatekeeper.store.execute([Put(f"mcp-state:{nonce}", b"1", ttl)])
        body = {
            **claims,
            "n": nonce,
            "sub": caller.identity_for(gatekeeper),
            "tool": params.get("name"),
            "args": _digest(params.get("arguments")),
        }
        return self._sealer.seal(body, ttl)

    async def _open_state(
        self, raw: Any, name: str, params: dict[str, Any], caller: _Caller
    ) -> dict[str, Any] | None:
        """The gate's claims from an echoed ``requestState``; refuses forged, foreign, stale or
        replayed state (``StateInvalid``)."""
        if raw is None:
            return None
        gatekeeper = await self.gatekeeper()
        assert self._sealer is not None
        claims = self._sealer.unseal(raw)
        if claims.get("tool") != name or claims.get("args") != _digest(params.get("arguments")):
            raise StateInvalid("state belongs to another tool call")
        if claims.get("sub") != caller.identity_for(gatekeeper):
            raise StateInvalid("state belongs to another client")
        (used,) = await gatekeeper.store.execute([Take(f"mcp-state:{claims['n']}")])
        if used is None:
            raise StateInvalid("state was already used")
        return claims

    # -- the gate's own tools ---------------------------------------------------------------------

    async def _challenge_tool(self, ctx: Any, params: dict[str, Any]) -> Any:
        arguments = params.get("arguments") or {}
        tool = arguments.get("tool")
        rule = self.rules.get(tool) if isinstance(tool, str) else None
        if rule is None:
            return _error(f"{tool!r} is not a priced tool; call it directly.", code="not_priced")
        gatekeeper = await self.gatekeeper()
        assert isinstance(tool, str)  # a rule was found for it
        decision = await gatekeeper.decide(_caller(ctx).visitor(), rule)
        if isinstance(decision, Deny | Throttle):
            return _refused(refusal(decision, tool_wording(tool)))
        if not isinstance(decision, Challenge):
            return _error(f"{tool!r} cannot be paid for.", code="denied")
        payload = _challenge_payload(decision.challenge, tool)
        return _ok(
            f"{puzzle_text(decision.challenge.puzzle)}\n\nChallenge id: {decision.challenge.challenge_id}",
            payload,
        )

    async def _solve_tool(self, ctx: Any, params: dict[str, Any]) -> Any:
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
            return _error(
                "Give challenge_id and answers (a list of hidden words).", code="malformed"
            )
        if not all(readable_answer(answer) for answer in answers):
            return _error(UNREADABLE, code="malformed_answer")
        gatekeeper = await self.gatekeeper()
        try:
            minted = await gatekeeper.challenges.solve(
                challenge_id, _caller(ctx).identity_for(gatekeeper), answers
            )
        except WrongAnswer as wrong:
            return _error(
                f"That is not the hidden word; {wrong.attempts_left} attempt(s) left.",
                code="wrong_answer",
                attempts_left=wrong.attempts_left,
            )
        except (ChallengeGone, ChallengeMismatch):
            return _error(
                "This puzzle is unknown, expired, solved or out of attempts.", code="challenge_gone"
            )
        except TooEarly as early:
            return _error(
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
        return _ok(f"Solved. Send this pass in the request _meta under {PASS_META_KEY!r}.", payload)

    def _annotate(self, result: Any) -> Any:
        if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
            return result
        tools = []
        for tool in result["tools"]:
            name = tool.get("name") if isinstance(tool, dict) else None
            if isinstance(tool, dict) and isinstance(name, str):
                self._declared[name] = tool.get("outputSchema") is not None
            rule = self.rules.get(name) if isinstance(name, str) else None
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


# -- helpers -----------------------------------------------------------------------------------------


def _caller(ctx: Any) -> _Caller:
    request = getattr(ctx, "request", None)
    client = getattr(request, "client", None)
    peer = getattr(client, "host", None) if client is not None else None
    headers = getattr(request, "headers", None)
    forwarded = (
        tuple(headers.getlist("x-forwarded-for"))
        if headers is not None and hasattr(headers, "getlist")
        else ()
    )
    return _Caller(identity=STDIO_IDENTITY, peer=peer, forwarded_for=forwarded)


def _modern(ctx: Any) -> bool:
    from mcp_types.version import is_version_at_least

    version = getattr(ctx, "protocol_version", None)
    return isinstance(version, str) and bool(version) and is_version_at_least(version, _MODERN)


def _can_elicit(ctx: Any) -> bool:
    capabilities = getattr(getattr(ctx, "session", None), "client_capabilities", None)
    return getattr(capabilities, "elicitation", None) is not None


def _wire(result: Any) -> Any:
    if hasattr(result, "model_dump"):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return result


def _digest(arguments: Any) -> str:
    canonical = json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _elicit_params(issued: Any, notice: str | None) -> Any:
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


async def _elicit(ctx: Any, params: Any) -> Any:
    """Legacy elicitation with our ``_meta`` (``ServerSession.elicit_form`` cannot send one)."""
    import mcp_types as types
    from mcp.shared.message import ServerMessageMetadata

    return await ctx.session.send_request(
        types.ElicitRequest(params=params),
        types.ElicitResult,
        metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
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


def _notice(outcome: int | _Unread) -> str:
    """What the client is told when asked again: attempts left after a wrong answer, or why an
    answer was not judged."""
    if isinstance(outcome, _Unread):
        return UNREADABLE
    return f"That is not the hidden word; {outcome} attempt(s) left."


def _answers_from(reply: Any) -> list[str] | None:
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


def _challenge_payload(issued: Any, tool: str) -> dict[str, Any]:
    return {
        "challenge_id": issued.challenge_id,
        "tool": tool,
        "price": issued.price,
        "attempts": issued.attempts,
        "expires_at": issued.expires_at,
        "not_before": math.ceil(issued.not_before),
        "floor": round(issued.floor, 1),
        "puzzle": puzzle_to_dict(issued.puzzle),
    }


def _ok(text: str, structured: dict[str, Any]) -> Any:
    import mcp_types as types

    # A model, not a dict: the SDK serialises it for the protocol version in use.
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=structured
    )


def _refused(refused: Refusal) -> Any:
    return _error(refused.message, code=refused.code, **refused.fields)


def _error(text: str, **structured: Any) -> Any:
    import mcp_types as types

    payload = {"error": structured.pop("code"), **structured}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=payload,
        is_error=True,
        _meta={ERROR_META_KEY: payload},
    )


def _made_by_gate(result: Any) -> bool:
    meta = getattr(result, "meta", None)
    return (
        bool(getattr(result, "is_error", False))
        and isinstance(meta, dict)
        and ERROR_META_KEY in meta
    )


def _without_structured(result: Any) -> Any:
    """The gate's error for a tool with an output schema: its payload stays in ``_meta`` only,
    since structured content must match the tool's schema, in every SDK."""
    return result.model_copy(update={"structured_content": None})


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
