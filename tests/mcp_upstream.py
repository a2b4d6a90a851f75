"""A small real MCP server used as the upstream behind ``gate mcp`` in tests and benchmarks.

    python tests/mcp_upstream.py stdio
    python tests/mcp_upstream.py http PORT

Tools: ``echo`` (text), ``add`` (structured output), ``slow`` (sleeps, for timeouts), ``boom``
(raises), ``crash`` (kills the process, for upstream-death tests), ``meta`` (returns the request's
user ``_meta``); a static resource, a resource template and a prompt.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

server = MCPServer("test-upstream", instructions="A test upstream for the MCP gateway.")


class Sum(BaseModel):
    total: int


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool(description="Add two integers (structured output).")
def add(a: int, b: int) -> Sum:
    return Sum(total=a + b)


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer: lets tests exceed the gateway's upstream timeout."""
    await anyio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def boom() -> str:
    """Always fails with a tool error."""
    raise ToolError("boom went the tool")


@server.tool()
def crash() -> str:
    """End the process at once, as a crashing upstream would."""
    os._exit(3)


@server.tool()
async def meta(ctx: Context) -> dict[str, Any]:
    """The request's ``_meta`` without the protocol's reserved keys."""
    raw = dict(ctx.request_context.meta or {})
    return {
        key: value for key, value in raw.items() if not key.startswith("io.modelcontextprotocol/")
    }


@server.resource("res://readme", description="A static text resource.")
def readme() -> str:
    return "upstream readme"


@server.resource("res://item/{item_id}", description="One item by id.")
def item(item_id: str) -> str:
    return f"item {item_id}"


@server.prompt(description="Greet someone.")
def greet(name: str) -> str:
    return f"Hello {name}"


def main(argv: list[str]) -> None:
    if argv[:1] == ["stdio"]:
        server.run("stdio")
    elif len(argv) == 2 and argv[0] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(argv[1]))
    else:
        raise SystemExit("usage: mcp_upstream.py stdio | http PORT")


if __name__ == "__main__":
    main(sys.argv[1:])
