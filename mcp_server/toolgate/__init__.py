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

The modules, one step each: ``gate`` (the middleware: which requests are the gate's; fail
closed), ``payment`` (decide, ask, check the answer, spend the pass), ``asking`` (the question in
band, either protocol), ``request_state`` (sealed, single-use state), ``running`` (the paid call,
its receipt and refund), ``own_tools`` (``gate_challenge``, ``gate_solve``, prices in
``tools/list``), ``results`` (the gate's own results), ``caller`` (who calls), ``names`` (the
wire names).
"""

from __future__ import annotations

from mcp_server.toolgate.caller import STDIO_IDENTITY
from mcp_server.toolgate.gate import ToolGate, tool_rules
from mcp_server.toolgate.names import (
    ANSWER_KEY,
    BUDGET_META_KEY,
    CHALLENGE_TOOL,
    ERROR_META_KEY,
    PASS_META_KEY,
    PRICE_META_KEY,
    PUZZLE_META_KEY,
    SOLVE_TOOL,
)

__all__ = [
    "ANSWER_KEY",
    "BUDGET_META_KEY",
    "CHALLENGE_TOOL",
    "ERROR_META_KEY",
    "PASS_META_KEY",
    "PRICE_META_KEY",
    "PUZZLE_META_KEY",
    "SOLVE_TOOL",
    "STDIO_IDENTITY",
    "ToolGate",
    "tool_rules",
]
