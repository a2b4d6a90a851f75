"""One ``tools/call`` of a priced tool as the gate sees it: the request, what the gate needs to
charge for it, and the request's own ``_meta`` and input responses with the gate's keys taken out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gate.failures import FailureLog
from gate.gatekeeper import Gatekeeper
from gate.rules import Rule
from mcp_server.toolgate.caller import Caller
from mcp_server.toolgate.request_state import RequestStates


@dataclass(frozen=True, slots=True)
class PricedCall:
    gatekeeper: Gatekeeper
    states: RequestStates
    failures: FailureLog
    ctx: Any  # the MCP server middleware context
    call_next: Any  # the rest of the server: the tool itself
    params: dict[str, Any]
    rule: Rule
    caller: Caller
    meta: dict[str, Any]  # the request ``_meta`` without the pass
    responses: dict[str, Any]  # ``inputResponses`` without the answer to the gate's question

    @property
    def name(self) -> str:
        name: str = self.params["name"]
        return name
