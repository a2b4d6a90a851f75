"""An MCP server with a priced tool, run over stdio by the tests (``python tests/mcp_gated_server.py``).

Settings come from the environment (``GATE_STATE_DIR`` points at the tests' seeded bank).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp.server.mcpserver import MCPServer

from mcp_server import ToolGate, tool_rules

gate = ToolGate(tool_rules({"search": 1_500}, budget=5))
server = MCPServer("gated-search")
gate.install(server)


@server.tool()
def search(query: str) -> str:
    """Search the catalogue."""
    return f"results for {query}"


if __name__ == "__main__":
    server.run("stdio")
