"""``gate demo``, ``gate proxy`` and ``gate authz``: the HTTP ways in, from the command line.

The options these commands share are declared once, below, so one flag means one thing (and
reads the same in ``--help``) on every command that takes it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gate.commands import EXIT_USAGE, DatabaseUrl, MetricsPort, console, errors, load_config
from serving.runner import run_server

if TYPE_CHECKING:
    from collections.abc import Callable

    from gate.config import GateConfig

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        help="Shared store (redis://, or redis+cluster:// for a Redis Cluster): for several "
        "replicas and --workers above 1. Default: GATE_STORE_URL, else the in-process store.",
    ),
]
Rules = Annotated[
    list[str] | None,
    typer.Option(
        "--rule",
        help="PREFIX=allow | PREFIX=deny | PREFIX=price:TOKENS[:budget=N][:ttl=S][:free=N]; "
        "repeatable. GATE_POLICY_FILE replaces these with a full policy.",
    ),
]
RulesFile = Annotated[Path | None, typer.Option("--rules-file", help="One --rule per line.")]
Workers = Annotated[
    int,
    typer.Option(
        min=1,
        help="Processes sharing the port (SO_REUSEPORT) and the store; above 1 needs a shared "
        "store (--redis-url).",
    ),
]
# Set on the workers that --workers starts (serving.workers), never by a person.
ReusePort = Annotated[bool, typer.Option(hidden=True)]


def demo(
    host: Host = "127.0.0.1",
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
    walkthrough: Annotated[
        bool,
        typer.Option(
            "--walkthrough",
            help="Instead of serving, run a program through challenge, solve, pass and budget "
            "against the demo site (on a free loopback port), printing each step, then exit.",
        ),
    ] = False,
) -> None:
    """Run a demo site with free and priced pages behind the gate (embedded defaults)."""
    # A demo brings any database it is given up to date (services only check; see docs/deploy.md).
    config = load_config(store_url=redis_url, database_url=database_url, db_auto_upgrade="always")
    if walkthrough:
        from middleware.walkthrough import walkthrough as run_walkthrough

        raise typer.Exit(asyncio.run(run_walkthrough(config)))
    run_server(_serve_demo(config, host, port, metrics_port, admin=admin))


def _gate_command() -> str:
    """How this ``gate`` was run, to repeat in printed commands: ``.venv/bin/gate`` from the
    checkout (it is not on the PATH unless the environment is activated)."""
    import os
    import sys

    program = sys.argv[0]
    if os.path.basename(program) != "gate" or os.sep not in program:
        return "gate"
    relative = os.path.relpath(program)
    return program if relative.startswith("..") else relative


async def _serve_demo(
    config, host: str, port: int, metrics_port: int | None, *, admin: bool = False
) -> None:  # type: ignore[no-untyped-def]
    from gate.errors import GateError
    from middleware.demo import DEMO_RULES, demo_app, walkthrough
    from serving.runner import ServeError, operator_hooks, serve, with_dashboard
    from serving.runtime import open_runtime

    with console.status("Starting the gate (the first start seeds the clue bank)..."):
        try:
            runtime = await open_runtime(config, DEMO_RULES)
        except GateError as exc:
            raise _cannot_start(exc) from exc
    if runtime.seeded:
        console.print(f"Seeded the clue bank with {runtime.seeded} built-in clues.")
    # plain print: copy-paste must not wrap
    print(walkthrough(f"http://{host}:{port}", _gate_command()), flush=True)
    site, dashboard = demo_app(runtime.gatekeeper), None
    if admin:
        site, dashboard = await with_dashboard(site, runtime)
        print(f"Admin dashboard: http://{host}:{port}/_gate/admin/", flush=True)
    growing = asyncio.create_task(_grow_demo_bank(runtime))  # the large bank, after the start
    try:
        async with operator_hooks(runtime, metrics_port=metrics_port):
            await serve(site, host, port, survive_signals=True, log_level="info")
    except ServeError as exc:
        raise _cannot_start(exc) from exc
    finally:
        growing.cancel()
        if dashboard is not None:
            await dashboard.stop()
        await runtime.close()


async def _grow_demo_bank(runtime) -> None:
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
            await runtime.reload_bank(force=True)
            added = sum(result.added.values())
            print(
                f"Large clue bank ready: {added} clues added in {result.seconds:.0f} s; "
                f"serving {runtime.composer.index.clue_count} clues.",
                flush=True,
            )
    except Exception:
        logging.getLogger("reasoning_gate").exception("building the large clue bank failed")


def proxy(
    upstream: Annotated[
        str, typer.Option("--upstream", help="The site to protect, e.g. http://127.0.0.1:3000.")
    ],
    rule: Rules = None,
    rules_file: RulesFile = None,
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    redis_url: RedisUrl = None,
    database_url: DatabaseUrl = None,
    workers: Workers = 1,
    reuse_port: ReusePort = False,
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
    from middleware.proxy_cli import serve_proxy

    config = load_config(store_url=redis_url, database_url=database_url)

    def run(reuse: bool) -> None:
        run_server(
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
                reuse_port=reuse,
                ready=lambda line: console.print(line, soft_wrap=True),
            )
        )

    _with_workers(config, workers, reuse_port, run)


def _with_workers(
    config: GateConfig, workers: int, reuse_port: bool, run: Callable[[bool], None]
) -> None:
    """``run(reuse_port)`` in this process, with ``workers - 1`` more processes of the same
    command on the same port (serving.workers); a memory store exits 2 first.  A gate that
    cannot start (GateError: settings, rules, store, port) is one ``cannot start`` line, exit 1."""
    import sys

    from gate.errors import GateError
    from serving.workers import SHARED_STORE_NEEDED, spawned_workers, worker_argv

    if workers > 1 and config.store_url.startswith("memory"):
        raise _cannot_start(SHARED_STORE_NEEDED, EXIT_USAGE)
    try:
        with spawned_workers(worker_argv(sys.argv[1:]), workers - 1):
            run(reuse_port or workers > 1)
    except GateError as exc:
        raise _cannot_start(exc) from exc


def _cannot_start(reason: object, code: int = 1) -> typer.Exit:
    """The one line (on stderr) for a server that does not start, and the exit to raise."""
    errors.print(f"[red]cannot start:[/red] {reason}", soft_wrap=True)
    return typer.Exit(code)


def authz(
    rule: Rules = None,
    rules_file: RulesFile = None,
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    redis_url: RedisUrl = None,
    database_url: DatabaseUrl = None,
    workers: Workers = 1,
    reuse_port: ReusePort = False,
    metrics_port: MetricsPort = None,
) -> None:
    """Forward auth for an edge proxy (nginx auth_request, Caddy forward_auth, Traefik
    ForwardAuth, Envoy ext_authz): the gate's decision alone. Needs GATE_TRUSTED_PROXIES."""
    from middleware.authz_cli import serve_authz

    config = load_config(store_url=redis_url, database_url=database_url)

    def run(reuse: bool) -> None:
        run_server(
            serve_authz(
                host=host,
                port=port,
                rules=rule or [],
                rules_path=rules_file,
                config=config,
                metrics_port=metrics_port,
                reuse_port=reuse,
                ready=lambda line: console.print(line, soft_wrap=True),
            )
        )

    _with_workers(config, workers, reuse_port, run)
