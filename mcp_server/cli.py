"""``gate mcp``: front an existing MCP server as a gating gateway."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from gate.commands import EXIT_USAGE, DatabaseUrl
from serving.runner import run_server


def _fail(message: str, code: int) -> typer.Exit:
    """Print one plain line to stderr (stdout may be an MCP stream) and return the exit."""
    import sys

    print(f"gate mcp: {message}", file=sys.stderr, flush=True)
    return typer.Exit(code)


def _parse_prices(items: list[str]) -> dict[str, int]:
    prices: dict[str, int] = {}
    for item in items:
        tool, sep, tokens = item.partition("=")
        if not sep or not tool.strip() or not tokens.strip().isdigit() or int(tokens) <= 0:
            raise _fail(f"--price wants TOOL=TOKENS with a positive integer, got {item!r}", 2)
        prices[tool.strip()] = int(tokens)
    return prices


def mcp_gateway(
    upstream_command: Annotated[
        str | None,
        typer.Option(help="Upstream MCP server to spawn (stdio), as a shell-like command line."),
    ] = None,
    upstream_url: Annotated[
        str | None, typer.Option(help="Upstream MCP server's streamable-HTTP URL.")
    ] = None,
    price: Annotated[
        list[str] | None,
        typer.Option(help="Price a tool, TOOL=TOKENS (expected solver tokens); repeatable."),
    ] = None,
    budget: Annotated[int, typer.Option(min=1, help="Calls one pass pays for.")] = 20,
    pass_ttl: Annotated[int, typer.Option(min=1, help="Seconds a pass lives.")] = 3_600,
    transport: Annotated[
        str, typer.Option(help="Front transport: http (streamable HTTP) or stdio.")
    ] = "http",
    host: Annotated[str, typer.Option(help="Interface to listen on (http).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (http).")] = 8100,
    path: Annotated[str, typer.Option(help="URL path of the MCP endpoint (http).")] = "/mcp",
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="A Host name clients may use (repeatable; DNS-rebinding protection allows only "
            "these and --host). Needed when published under a public name.",
        ),
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="Use Redis instead of the in-process store.")
    ] = None,
    database_url: DatabaseUrl = None,
    upstream_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the upstream, per request.")
    ] = 30.0,
    allow_unlisted_price: Annotated[
        bool,
        typer.Option(
            "--allow-unlisted-price",
            help="Start even when a --price names a tool the upstream does not list (yet).",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes sharing the port (SO_REUSEPORT) and the store (http); above 1 needs "
            "a shared store (--redis-url).",
        ),
    ] = 1,
    # Set on the workers that --workers starts (serving.workers), never by a person.
    reuse_port: Annotated[bool, typer.Option(hidden=True)] = False,
    peers: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """Front an existing MCP server: re-expose its tools, resources and prompts, pricing tools."""
    import logging

    from gate.errors import ConfigError

    if (upstream_command is None) == (upstream_url is None):
        raise _fail("give exactly one of --upstream-command and --upstream-url", 2)
    if transport not in ("http", "stdio"):
        raise _fail(f"--transport must be http or stdio, got {transport!r}", 2)
    if not path.startswith("/"):
        raise _fail(f"--path must start with '/', got {path!r}", 2)
    prices = _parse_prices(price or [])

    from gate.config import GateConfig
    from mcp_server.front import log_to_stderr, serve_gateway
    from mcp_server.spec import GatewayError, UpstreamSpec
    from mcp_server.toolgate import tool_rules

    try:
        config = GateConfig.from_env(store_url=redis_url, database_url=database_url)
        rules = tool_rules(prices, budget=budget, pass_ttl=pass_ttl) if prices else None
        spec = (
            UpstreamSpec(upstream_url, "url", upstream_timeout)
            if upstream_url is not None
            else UpstreamSpec(upstream_command or "", "command", upstream_timeout)
        )
    except (ConfigError, ValueError) as exc:
        raise _fail(f"configuration error: {exc}", 2) from exc
    if workers > 1 and transport != "http":
        raise _fail("--workers above 1 serves streamable HTTP only (--transport http)", EXIT_USAGE)
    if workers > 1 and config.store_url.startswith("memory"):
        from serving.workers import SHARED_STORE_NEEDED

        raise _fail(SHARED_STORE_NEEDED, EXIT_USAGE)
    log_to_stderr(logging.WARNING)
    priced = ", ".join(f"{tool}={tokens}" for tool, tokens in prices.items()) or "none"

    def ready(line: str) -> None:
        import sys

        print(f"gate mcp: {line} (priced tools: {priced})", file=sys.stderr, flush=True)

    def run(peers: Path | None) -> None:
        run_server(
            serve_gateway(
                spec,
                transport="stdio" if transport == "stdio" else "http",
                host=host,
                port=port,
                path=path,
                allowed_hosts=tuple(allowed_host or ()),
                rules=rules,
                config=config,
                ready=ready,
                allow_unlisted=allow_unlisted_price,
                peers=peers,
            )
        )

    try:
        if workers > 1:
            _with_workers(workers, run)
        else:
            run(peers if reuse_port else None)
    except GatewayError as exc:
        raise _fail(str(exc), 1) from None
    except KeyboardInterrupt:
        pass


def _with_workers(workers: int, run: Callable[[Path | None], None]) -> None:
    """``run`` in this process and in ``workers - 1`` more of the same command on the same port
    (serving.workers), all routing sessions through one private directory (mcp_server.workers)."""
    import shutil
    import sys
    import tempfile

    from serving.workers import spawned_workers, worker_argv

    peers = Path(tempfile.mkdtemp(prefix="gate-mcp-workers-"))  # mode 0700: ours alone
    try:
        argv = [*worker_argv(sys.argv[1:]), "--peers", str(peers)]
        with spawned_workers(argv, workers - 1):
            run(peers)
    finally:
        shutil.rmtree(peers, ignore_errors=True)
