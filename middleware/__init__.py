"""Ways in over HTTP: the ASGI middleware (and, later, the reverse proxy)."""

from middleware.asgi import BUDGET_HEADER, GateMiddleware
from middleware.embedded import ReasoningGate

__all__ = ["BUDGET_HEADER", "GateMiddleware", "ReasoningGate"]
