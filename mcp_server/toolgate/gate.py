"""``ToolGate``, the server middleware: which requests are the gate's, and a call the gate cannot
check refused (fail closed) with a reason and no internals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gate.config import GateConfig
from gate.errors import ChallengePending, GateError, StateInvalid
from gate.failures import FailureLog
from gate.gatekeeper import Gatekeeper
from gate.pricing import max_puzzle_price
from gate.rules import Action, Rule, RuleSet
from mcp_server.toolgate.names import CHALLENGE_TOOL, SOLVE_TOOL
from mcp_server.toolgate.own_tools import annotate, challenge_tool, solve_tool
from mcp_server.toolgate.payment import priced_call
from mcp_server.toolgate.request_state import RequestStates
from mcp_server.toolgate.results import error, made_by_gate, wire, without_structured
from mcp_server.toolgate.running import ToolFailure

log = logging.getLogger("reasoning_gate.mcp")


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
        self._states: RequestStates | None = None
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
        if self._states is None:
            self._check_rules(gatekeeper)
            self._states = RequestStates(gatekeeper)
        return gatekeeper

    async def aclose(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            await runtime.close()
            self._gatekeeper = None
            self._states = None

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
            return annotate(wire(await call_next(ctx)), self.rules, self._declared)
        if method != "tools/call":
            return await call_next(ctx)
        params = dict(ctx.params or {})
        name = params.get("name")
        rule = self.rules.get(name) if isinstance(name, str) else None
        if rule is None and name not in (CHALLENGE_TOOL, SOLVE_TOOL):
            # Not the gate's business: the server's answer, JSON-RPC errors included, unchanged.
            return await call_next(ctx)
        result = await self._gated(ctx, call_next, params, name, rule)
        gate_error = rule is not None and made_by_gate(result)
        if gate_error and isinstance(name, str) and await self._declares_output(name):
            return without_structured(result)
        return result

    async def _gated(
        self, ctx: Any, call_next: Any, params: dict[str, Any], name: Any, rule: Rule | None
    ) -> Any:
        try:
            if name == CHALLENGE_TOOL:
                return await challenge_tool(self.gatekeeper, self.rules, ctx, params)
            if name == SOLVE_TOOL:
                return await solve_tool(self.gatekeeper, ctx, params)
            assert rule is not None
            gatekeeper = await self.gatekeeper()
            assert self._states is not None  # made with the gatekeeper
            return await priced_call(
                gatekeeper, self._states, self._failures, ctx, call_next, params, rule
            )
        except ToolFailure as failure:
            raise failure.original from None
        except StateInvalid as exc:
            log.info("refused request state for %s: %s", name, exc)
            return error(
                "The answer's request state is invalid, expired or already used. Call the tool again "
                "for a new puzzle.",
                code="invalid_state",
            )
        except ChallengePending as pending:
            return error(
                "A puzzle for this client is being prepared; call again in a moment.",
                code="challenge_pending",
                retry_after=pending.retry_after,
            )
        except Exception as exc:  # fail closed, and say why without internals
            store = self._gatekeeper.store if self._gatekeeper is not None else None
            await self._failures.record(f"tools/call {name}", exc, store)
            return error(
                "The gate could not check this call; retry later.", code="gate_unavailable"
            )
