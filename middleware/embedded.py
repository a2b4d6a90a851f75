"""``ReasoningGate``: the one-line way in for any ASGI app.

    app = ReasoningGate(app, rules=[Rule("/api/", price=2_000)])

The gate is built from ``GATE_*`` settings when the server starts (ASGI lifespan) and closed when
it stops, so nothing async has to happen at import time.  Until it has started, every request
gets 503: a gate that is not running lets nothing through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gate.config import GateConfig
from gate.rules import Rule, RuleSet
from middleware.asgi import GateMiddleware
from middleware.render import message_response
from serving.lifespan import run_lifespan
from serving.runtime import Runtime, open_runtime

log = logging.getLogger("reasoning_gate")


class ReasoningGate:
    def __init__(
        self,
        app: ASGIApp,
        rules: Iterable[Rule] | RuleSet,
        config: GateConfig | None = None,
        **middleware_options: object,
    ) -> None:
        self.app = app
        self.rules = rules if isinstance(rules, RuleSet) else RuleSet(rules)
        self.config = config
        self.options = middleware_options
        self.runtime: Runtime | None = None
        self._gate: GateMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if self._gate is None:
            if scope["type"] == "http":
                response = message_response(
                    503,
                    "Temporarily unavailable",
                    "The gate has not started.",
                    flavor="json",
                    error="gate_unavailable",
                    headers={"Retry-After": "5"},
                )
                await response(scope, receive, send)
            elif scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013})
            return
        await self._gate(scope, receive, send)

    async def start(self) -> None:
        config = self.config or GateConfig.from_env()
        self.runtime = await open_runtime(config, self.rules)
        self._gate = GateMiddleware(self.app, self.runtime.gatekeeper, **self.options)  # type: ignore[arg-type]

    async def stop(self) -> None:
        runtime, self.runtime, self._gate = self.runtime, None, None
        if runtime is not None:
            await runtime.close()

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen_startup = False

        async def receive_and_manage() -> Message:
            nonlocal seen_startup
            message = await receive()
            if message["type"] == "lifespan.startup":
                seen_startup = True
                await self.start()  # a failure here makes the app report startup.failed
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
            return message

        try:
            await self.app(scope, receive_and_manage, send)
        except Exception:
            if seen_startup:
                raise
            log.debug("the wrapped app does not speak ASGI lifespan; the gate runs it alone")
        if not seen_startup:
            await run_lifespan(receive, send, self.start, self.stop)
