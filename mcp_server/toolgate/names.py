"""The names a client meets on the wire: the gate's ``_meta`` keys and its own two tools."""

from __future__ import annotations

PASS_META_KEY = "reasoning-gate/pass"
BUDGET_META_KEY = "reasoning-gate/budget-remaining"
PRICE_META_KEY = "reasoning-gate/price"
PUZZLE_META_KEY = "reasoning-gate/puzzle"  # the puzzle as data, in the elicitation request _meta
# Every error result the gate makes carries its structured payload here too: a tool that declares an
# outputSchema gets its errors without structuredContent (TS SDK 1.x clients validate that even on
# errors, and the gate's payload is not the tool's output), so this is where programs read it.
ERROR_META_KEY = "reasoning-gate/error"
ANSWER_KEY = "reasoning-gate/answer"  # the input request a client answers with the hidden words

CHALLENGE_TOOL = "gate_challenge"
SOLVE_TOOL = "gate_solve"
