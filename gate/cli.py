"""The ``gate`` command line.

Commands import their heavy parts lazily so ``gate --help`` stays instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Reasoning Gate: make AI agents pay for access with reasoning puzzles.",
    no_args_is_help=True,
)
puzzles_app = typer.Typer(help="The clue bank.", no_args_is_help=True)
keys_app = typer.Typer(help="Pass signing keys.", no_args_is_help=True)
app.add_typer(puzzles_app, name="puzzles")
app.add_typer(keys_app, name="keys")
console = Console()

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Clue bank database (default: GATE_DATABASE_URL or SQLite in GATE_STATE_DIR).",
    ),
]


MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics (never on the public listener).",
    ),
]


def _config(**overrides: object):  # -> GateConfig; imported lazily
    from gate.config import GateConfig
    from gate.errors import ConfigError

    try:
        return GateConfig.from_env(**overrides)
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="Use Redis instead of the in-process store.")
    ] = None,
    database_url: DatabaseUrl = None,
    metrics_port: MetricsPort = None,
) -> None:
    """Run a demo site with free and priced pages behind the gate (embedded defaults)."""
    config = _config(store_url=redis_url, database_url=database_url)
    _run_server(_serve_demo(config, host, port, metrics_port))


def _run_server(main: Coroutine[Any, Any, None]) -> None:
    """Run a server coroutine on uvloop where it is installed, as uvicorn itself would."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is unavailable on Windows
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _serve_demo(config, host: str, port: int, metrics_port: int | None) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from gate.errors import GateError
    from gate.runtime import open_runtime
    from middleware.demo import DEMO_RULES, demo_app, walkthrough
    from middleware.serving import operator_hooks, uvicorn_config

    with console.status("Starting the gate (the first start seeds the clue bank)..."):
        try:
            runtime = await open_runtime(config, DEMO_RULES)
        except GateError as exc:
            console.print(f"[red]cannot start:[/red] {exc}")
            raise typer.Exit(1) from exc
    if runtime.seeded:
        console.print(f"Seeded the clue bank with {runtime.seeded} built-in clues.")
    print(walkthrough(f"http://{host}:{port}"), flush=True)  # plain print: copy-paste must not wrap
    server = uvicorn.Server(
        uvicorn_config(demo_app(runtime.gatekeeper), host, port, log_level="info")
    )
    try:
        async with operator_hooks(runtime, metrics_port=metrics_port):
            await server.serve()
    finally:
        await runtime.close()


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


@app.command("mcp")
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
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="Use Redis instead of the in-process store.")
    ] = None,
    database_url: DatabaseUrl = None,
    upstream_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the upstream, per request.")
    ] = 30.0,
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
    from mcp_server.gateway import GatewayError, UpstreamSpec, log_to_stderr, serve_gateway
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
    log_to_stderr(logging.WARNING)
    priced = ", ".join(f"{tool}={tokens}" for tool, tokens in prices.items()) or "none"

    def ready(line: str) -> None:
        import sys

        print(f"gate mcp: {line} (priced tools: {priced})", file=sys.stderr, flush=True)

    try:
        _run_server(
            serve_gateway(
                spec,
                transport="stdio" if transport == "stdio" else "http",
                host=host,
                port=port,
                path=path,
                rules=rules,
                config=config,
                ready=ready,
            )
        )
    except GatewayError as exc:
        raise _fail(str(exc), 1) from None
    except KeyboardInterrupt:
        pass


@app.command()
def proxy(
    upstream: Annotated[
        str, typer.Option("--upstream", help="The site to protect, e.g. http://127.0.0.1:3000.")
    ],
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            help="PREFIX=allow | PREFIX=deny | PREFIX=price:TOKENS[:budget=N][:ttl=S][:free=N]; repeatable. "
            "GATE_POLICY_FILE replaces these with a full policy.",
        ),
    ] = None,
    rules_file: Annotated[
        Path | None, typer.Option("--rules-file", help="One --rule per line.")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="Shared store for several replicas.")
    ] = None,
    database_url: DatabaseUrl = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the upstream (then 504).")
    ] = 30.0,
    max_body: Annotated[int, typer.Option(help="Largest request body in bytes (then 413).")] = 10
    * 2**20,
    metrics_port: MetricsPort = None,
) -> None:
    """Put a whole website behind the gate: a streaming reverse proxy to --upstream."""
    from gate.errors import GateError
    from middleware.proxy_cli import serve_proxy

    config = _config(store_url=redis_url, database_url=database_url)
    try:
        _run_server(
            serve_proxy(
                upstream,
                host=host,
                port=port,
                rules=rule or [],
                rules_path=rules_file,
                config=config,
                timeout=timeout,
                max_body=max_body,
                metrics_port=metrics_port,
                ready=lambda line: console.print(line),
            )
        )
    except GateError as exc:
        console.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(1) from exc


apikeys_app = typer.Typer(
    help="API keys: clients priced as themselves, with a tier.", no_args_is_help=True
)
app.add_typer(apikeys_app, name="apikeys")


@apikeys_app.command("create")
def apikeys_create(
    name: Annotated[str, typer.Argument(help="Who holds the key (letters, digits, . _ -).")],
    tier: Annotated[
        str, typer.Option(help="A tier defined in the policy (discounts, allowances).")
    ] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    from puzzles.apikeys import create_api_key

    key = asyncio.run(_with_engine(_config(database_url=database_url), create_api_key, name, tier))
    console.print(
        f"API key for {name}: [bold]{key}[/bold]\nSend it as 'Gate-Key: <key>'. It cannot be shown again."
    )


@apikeys_app.command("list")
def apikeys_list(database_url: DatabaseUrl = None) -> None:
    """List key holders, tiers and whether the key is revoked."""
    from puzzles.apikeys import list_api_keys

    records = asyncio.run(_with_engine(_config(database_url=database_url), list_api_keys))
    table = Table(title="API keys")
    for column in ("name", "tier", "state"):
        table.add_column(column)
    for record in records:
        table.add_row(record.name, record.tier or "-", "revoked" if record.revoked else "active")
    console.print(table)


@apikeys_app.command("revoke")
def apikeys_revoke(
    name: Annotated[str, typer.Argument()], database_url: DatabaseUrl = None
) -> None:
    """Revoke a key; running gates stop honouring it within 30 seconds."""
    from puzzles.apikeys import revoke_api_key

    if not asyncio.run(_with_engine(_config(database_url=database_url), revoke_api_key, name)):
        console.print(f"[red]no active key named {name!r}[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked the key of {name}.")


async def _with_engine(config, action, *args):  # type: ignore[no-untyped-def]
    from gate.errors import ConfigError
    from puzzles.db import create_engine, create_schema

    engine = create_engine(config.resolved_database_url)
    try:
        await create_schema(engine)
        return await action(engine, *args)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        await engine.dispose()


@puzzles_app.command("seed")
def puzzles_seed(database_url: DatabaseUrl = None) -> None:
    """Add the built-in clues and hidden words to the bank (safe to run again)."""
    from gate.runtime import seed_bank

    config = _config(database_url=database_url)
    with console.status("Seeding the clue bank..."):
        clues, words = asyncio.run(seed_bank(config.resolved_database_url))
    console.print(f"Added {clues} clues and {words} words (existing entries are kept).")


@puzzles_app.command("stats")
def puzzles_stats(database_url: DatabaseUrl = None) -> None:
    """Show the bank: clues by tier, status, domain and initial."""
    config = _config(database_url=database_url)
    counts = asyncio.run(_bank_counts(config.resolved_database_url))
    for title, mapping in (
        ("tier", counts.by_tier),
        ("status", counts.by_status),
        ("domain", counts.by_domain),
        ("initial", counts.by_initial),
    ):
        table = Table(title=f"Clues by {title}")
        table.add_column(title)
        table.add_column("clues", justify="right")
        for key, value in sorted(mapping.items(), key=lambda item: str(item[0])):
            table.add_row(str(key), str(value))
        console.print(table)


async def _bank_counts(url: str):  # type: ignore[no-untyped-def]
    from puzzles.bank import ClueBank
    from puzzles.db import create_engine, create_schema

    engine = create_engine(url)
    try:
        await create_schema(engine)
        return await ClueBank(engine).counts()
    finally:
        await engine.dispose()


@keys_app.command("generate")
def keys_generate(
    path: Annotated[Path, typer.Argument(help="Where to write the PEM key (0600).")],
) -> None:
    """Create a new Ed25519 signing key; point GATE_SIGNING_KEY_FILE at it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gate.keys import key_id, write_private_key

    if path.exists():
        console.print(f"[red]{path} exists; refusing to overwrite a key[/red]")
        raise typer.Exit(1)
    key = Ed25519PrivateKey.generate()
    write_private_key(path, key)
    console.print(f"Wrote {path} (key id {key_id(key.public_key())}).")


if __name__ == "__main__":  # python -m gate.cli
    app()
