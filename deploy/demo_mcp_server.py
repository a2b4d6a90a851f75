"""A tiny MCP server for the compose demo: ``gate mcp`` spawns it over stdio and prices ``lookup``.

Standard library and the MCP SDK only (both are in the gate image); mounted read-only.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("demo-upstream", instructions="A demo tool server behind the gate.")

FACTS = {"mars": "the fourth planet from the Sun", "graph": "a diagram of related quantities"}


@server.tool()
def ping() -> str:
    """Answer 'pong' (free)."""
    return "pong"


@server.tool()
def lookup(term: str) -> str:
    """Look a term up in a small glossary (priced by the gate)."""
    return FACTS.get(term.strip().lower(), "no entry")


if __name__ == "__main__":
    server.run(transport="stdio")
