"""Ways in over HTTP: the ASGI middleware, the embedded gate, the reverse proxy.

Names load on first use (PEP 562), so ``gate --help`` (which imports ``middleware.cli``) does not
pay for Starlette and the gate's serving parts.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from middleware.asgi import BUDGET_HEADER, GateMiddleware
    from middleware.embedded import ReasoningGate

__all__ = ["BUDGET_HEADER", "GateMiddleware", "ReasoningGate"]
_HOMES = {
    "BUDGET_HEADER": "middleware.asgi",
    "GateMiddleware": "middleware.asgi",
    "ReasoningGate": "middleware.embedded",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'middleware' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
