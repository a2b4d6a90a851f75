"""``gate puzzles status | refill``: is the bank healthy, and keep it so."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gate.commands import DatabaseUrl, console, load_config
from gate.settings import setting
from puzzles.cli.pools import (
    BackendsFile,
    BackendUrl,
    GenerateConcurrency,
    GenerateSolvers,
    GeneratorName,
    ModelName,
    _factory_pools,
    _load_llm_backends,
    _run_factory,
)

if TYPE_CHECKING:
    from puzzles.health import BankHealth
    from puzzles.refill import RefillRound

LowWater = Annotated[
    int | None,
    typer.Option(min=0, help="Fresh clues per tier to keep (default: GATE_BANK_LOW_WATER)."),
]


def puzzles_status(
    database_url: DatabaseUrl = None,
    low_water: LowWater = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit with status 1 when a tier is below the low-water mark (for monitoring).",
        ),
    ] = False,
) -> None:
    """Bank health: fresh clues per tier and source, serve rate, time to exhaustion."""
    from puzzles.db import create_engine
    from puzzles.health import bank_health
    from puzzles.migrations import create_schema

    config = load_config(database_url=database_url)
    mark = config.bank_low_water if low_water is None else low_water

    async def read() -> BankHealth:
        engine = create_engine(config.resolved_database_url)
        try:
            await create_schema(engine)
            return await bank_health(engine, config.serve_limit, mark)
        finally:
            await engine.dispose()

    health = asyncio.run(read())
    _print_health(health, config.serve_limit)
    if check and health.low():
        raise typer.Exit(1)


def _print_health(health: BankHealth, serve_limit: int) -> None:
    from puzzles.health import describe_seconds

    minutes = int(health.window.total_seconds() // 60)
    table = Table(title=f"Bank health (serve limit {serve_limit}, low-water {health.low_water})")
    for column in ("tier", "fresh", "at the limit", f"served/hour ({minutes} min)", "runs out in"):
        table.add_column(column, justify="right")
    low = {t.tier for t in health.low()}
    for t in health.tiers:
        table.add_row(
            f"[red]{t.tier}[/red]" if t.tier in low else str(t.tier),
            str(t.fresh),
            str(t.exhausted),
            f"{t.serves_per_hour:.0f}",
            describe_seconds(t.seconds_left),
        )
    console.print(table)
    sources = Table(title="Fresh clues by source")
    for column in ("source", "tier", "fresh"):
        sources.add_column(column, justify="left" if column == "source" else "right")
    for source, tier, fresh in health.by_source:
        sources.add_row(source, str(tier), str(fresh))
    console.print(sources)
    if low:
        tiers = ", ".join(map(str, sorted(low)))
        console.print(
            f"[red]below the low-water mark:[/red] tier(s) {tiers}; run `gate puzzles refill`"
        )


def puzzles_refill(
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep refilling every --interval seconds until stopped.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=1.0, help="Seconds between rounds with --watch.")
    ] = 300.0,
    low_water: LowWater = None,
    concurrency: GenerateConcurrency = 8,
    generator: GeneratorName = None,
    solver: GenerateSolvers = None,
    backends: BackendsFile = None,
    backend: BackendUrl = None,
    model: ModelName = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Top every tier below the low-water mark up: retire exhausted clues, add what the offline
    sources lack, and with a model (--backend, --backends or GATE_LLM_BACKENDS) have the factory
    write the rest. Resumable: an interrupted factory job continues in the next round."""
    from puzzles.factory.jobs import GenerateSettings
    from puzzles.refill import Refiller, factory_refill, graph_offline, log_round

    config = load_config(database_url=database_url)
    url = config.resolved_database_url
    mark = config.bank_low_water if low_water is None else low_water
    pools: list[object] = []
    factory = None
    if backend or backends or setting("llm_backends"):
        gen_pool, solvers, pools = _factory_pools(
            _load_llm_backends(backends, backend, model), generator, solver or []
        )
        factory = factory_refill(
            gen_pool, solvers, settings=GenerateSettings(concurrency=concurrency)
        )

    async def run(engine):  # type: ignore[no-untyped-def]
        refiller = Refiller(engine, config.serve_limit, mark, graph_offline(url), factory)
        if not watch:
            done = await refiller.refill_once()
            log_round(done, factory=factory is not None)
            return done
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        console.print(
            f"Refilling every {interval:.0f} s (Ctrl-C stops after the round in progress)."
        )
        await refiller.watch(interval, stop)
        return None

    with console.status("Refilling the clue bank..."):
        done = asyncio.run(_run_factory(url, pools, run))
    if done is not None:
        _print_round(done, config.serve_limit)
        if done.still_low:
            raise typer.Exit(1)


def _print_round(done: RefillRound, serve_limit: int) -> None:
    console.print(f"Retired {done.retired} clue(s) at the serve limit.")
    for tier in sorted(done.added):
        console.print(
            f"tier {tier}: {done.offline_added.get(tier, 0)} from the offline sources, "
            f"{done.factory_added.get(tier, 0)} from the factory"
        )
    if done.after is not None:
        _print_health(done.after, serve_limit)
