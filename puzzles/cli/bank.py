"""``gate puzzles seed | build | stats``: filling the clue bank and looking at it."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from gate.commands import DatabaseUrl, console, errors, load_config
from puzzles.cli.db import database_ready


def puzzles_seed(database_url: DatabaseUrl = None) -> None:
    """Add the built-in clues and hidden words to the bank (safe to run again)."""
    from puzzles.builtin import seed_bank

    config = load_config(database_url=database_url)
    database_ready(config)
    with console.status("Seeding the clue bank..."):
        clues, words = asyncio.run(seed_bank(config.resolved_database_url))
    console.print(f"Added {clues} clues and {words} words (existing entries are kept).")


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
    config = load_config(database_url=database_url)
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
        errors.print("[red]--tiers takes tier numbers, e.g. 2,3[/red]")
        raise typer.Exit(2) from exc
    if not wanted <= set(TIERS):
        errors.print(f"[red]tiers must be among {TIERS}[/red]")
        raise typer.Exit(2)
    return wanted


def puzzles_stats(
    database_url: DatabaseUrl = None,
    gate_length: Annotated[
        int, typer.Option(min=1, help="Letters per gate for the per-gate solver cost.")
    ] = 6,
) -> None:
    """Show the bank (clues by tier, status, domain, initial, phrasing kind) and the factory's
    asymmetry."""
    from puzzles.factory import phrasing_counts

    config = load_config(database_url=database_url)
    database_ready(config, reads_only=True)
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


async def _factory_numbers(url: str):
    from puzzles.db import create_engine
    from puzzles.factory.costs import factory_costs, tier_costs
    from puzzles.migrations import create_schema

    engine = create_engine(url)
    try:
        await create_schema(engine)
        return await factory_costs(engine), await tier_costs(engine)
    finally:
        await engine.dispose()


def _print_factory_costs(costs, tiers, gate_length: int) -> None:
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


async def _bank_counts(url: str):  # type: ignore[no-untyped-def]
    from puzzles.bank import ClueBank
    from puzzles.db import create_engine
    from puzzles.migrations import create_schema

    engine = create_engine(url)
    try:
        await create_schema(engine)
        return await ClueBank(engine).counts()
    finally:
        await engine.dispose()
