"""Ways in over MCP: prices on the tools of MCP servers, and a gating gateway.

Names load on first use (PEP 562), so ``gate --help`` (which imports ``mcp_server.cli``) does not
pay for the MCP SDK.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_server.toolgate import PASS_META_KEY, ToolGate, tool_rules

__all__ = ["PASS_META_KEY", "ToolGate", "tool_rules"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'mcp_server' has no attribute {name!r}")
    value = getattr(import_module("mcp_server.toolgate"), name)
    globals()[name] = value
    return value
