"""A small real MCP server used as the upstream behind ``gate mcp`` in tests and benchmarks.

    python tests/mcp_upstream.py stdio
    python tests/mcp_upstream.py http PORT

Tools: ``echo`` (text), ``add`` (structured output), ``slow`` (sleeps, for timeouts), ``boom``
(raises), ``ask_name`` (asks the client its own question first), ``crash`` (kills the process, for upstream-death tests), ``exit_soon`` (answers, then
the process exits while idle), ``refuse`` (a JSON-RPC error with the code asked for), ``meta``
(returns the request's user ``_meta``), ``shout`` (a log message, then a pause), ``grow`` (adds a
tool and announces the changed list), ``touch`` (announces an update of a resource); a static
resource, a resource template and a prompt.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import anyio
from mcp import MCPError
from mcp.server.mcpserver import Context, Elicit, MCPServer, Resolve
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


class Name(BaseModel):
    name: str


def _ask_name() -> Elicit[Name]:
    return Elicit("What is your name?", Name)


@server.tool()
def ask_name(name: Annotated[Name, Resolve(_ask_name)]) -> str:
    """Greet the caller by the name it gives when asked (its own input round)."""
    return f"Hello {name.name}"


@server.tool()
def crash() -> str:
    """End the process at once, as a crashing upstream would."""
    os._exit(3)


@server.tool()
def exit_soon() -> str:
    """Answer, then end the process a moment later, as an upstream dying while idle would."""
    import threading

    threading.Timer(0.2, os._exit, args=(0,)).start()
    return "bye"


@server.tool()
def refuse(code: int) -> str:
    """Fail with a JSON-RPC error of the upstream's own, with ``code`` and data."""
    raise MCPError(code, f"refused by the upstream ({code})", {"why": "asked to"})


@server.tool()
async def meta(ctx: Context) -> dict[str, Any]:
    """The request's ``_meta`` without the protocol's reserved keys."""
    raw = dict(ctx.request_context.meta or {})
    return {
        key: value for key, value in raw.items() if not key.startswith("io.modelcontextprotocol/")
    }


@server.tool()
async def shout(text: str, ctx: Context, seconds: float = 0.0) -> str:
    """Send ``text`` as a log message of this call, then wait ``seconds``."""
    await ctx.info(text, logger_name="shout")
    await anyio.sleep(seconds)
    return f"shouted {text}"


def _announce_legacy(ctx: Context) -> Any:
    """The calling session, on the handshake-era protocol (where change notifications ride the
    session); None on 2026-07-28, where they ride listen streams."""
    if ctx.request_context.protocol_version.startswith("2026"):
        return None
    return ctx.request_context.session


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool called ``name`` and announce that the tool list changed."""
    server.add_tool(lambda: name, name=name, description="Added at run time.")
    await ctx.notify_tools_changed()
    if (session := _announce_legacy(ctx)) is not None:
        await session.send_tool_list_changed()
    return f"grew {name}"


@server.tool()
async def touch(uri: str, ctx: Context) -> str:
    """Announce that the resource ``uri`` was updated."""
    await ctx.notify_resource_updated(uri)
    if (session := _announce_legacy(ctx)) is not None:
        await session.send_resource_updated(uri)
    return f"touched {uri}"


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
