"""Ways in over MCP: prices on the tools of MCP servers, and a gating gateway."""

from mcp_server.toolgate import PASS_META_KEY, ToolGate, tool_rules

__all__ = ["PASS_META_KEY", "ToolGate", "tool_rules"]
