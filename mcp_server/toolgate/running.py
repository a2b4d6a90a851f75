"""Running a paid tool call: the tool sees its own request, the client gets a receipt, and a call
that fails gives its use of the pass back."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gate.gatekeeper import Allow
from mcp_server.toolgate.call import PricedCall
from mcp_server.toolgate.names import BUDGET_META_KEY, PASS_META_KEY
from mcp_server.toolgate.results import wire


class ToolFailure(Exception):
    """Carries an exception raised by the tool itself past the gate's fail-closed handler."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


async def run_tool(
    call: PricedCall,
    state: dict[str, Any] | None,
    decision: Allow | None,
    minted: str | None = None,
) -> Any:
    """Call the tool with the gate's own keys removed and the tool's own state restored.

    The receipt (a pass minted for this call, the budget left) goes into the ``_meta`` of the
    call's final result; while the tool asks its own questions it rides in the sealed state,
    so it reaches the client after the last round.  A call that fails gives its use back.
    """
    inner = dict(call.params)
    for key in ("requestState", "inputResponses", "_meta"):
        inner.pop(key, None)
    if call.meta:
        inner["_meta"] = call.meta
    if call.responses:
        inner["inputResponses"] = call.responses
    if state is not None and state.get("inner") is not None:
        inner["requestState"] = state["inner"]
    paid = decision if decision is not None and decision.claims is not None else None
    receipt: dict[str, Any] = dict(state.get("receipt") or {}) if state is not None else {}
    if minted is not None:
        receipt[PASS_META_KEY] = minted
    if decision is not None and decision.remaining is not None:
        receipt[BUDGET_META_KEY] = decision.remaining
    try:
        result = wire(await call.call_next(replace(call.ctx, params=inner)))
    except BaseException as exc:  # the tool's own failure: not the gate's to mask
        if paid is not None:
            await _refund(call, paid)
        raise ToolFailure(exc) from exc
    if not isinstance(result, dict):
        return result
    if result.get("resultType") == "input_required":
        # The tool asks its own questions: wrap its state so later rounds are not charged again.
        sealed = await call.states.seal(
            call.params,
            call.caller,
            {"paid": True, "inner": result.get("requestState"), "receipt": receipt},
        )
        result = {**result, "requestState": sealed}
        if minted is not None:
            result.setdefault("_meta", {})[PASS_META_KEY] = minted
        return result
    if result.get("isError") and paid is not None and await _refund(call, paid):
        receipt[BUDGET_META_KEY] = paid.remaining + 1 if paid.remaining is not None else None
    if receipt:
        extra = {k: v for k, v in receipt.items() if v is not None}
        result = {**result, "_meta": {**(result.get("_meta") or {}), **extra}}
    return result


async def _refund(call: PricedCall, decision: Allow) -> bool:
    """Give back the use of the pass a failed call took; False when that cannot be done
    (the use stays counted: the safe side)."""
    try:
        await call.gatekeeper.refund(decision)
    except Exception as exc:
        await call.failures.record("refund", exc)
        return False
    return True
