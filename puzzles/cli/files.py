"""``gate puzzles import | export``: clues and gates in and out of the bank as files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from gate.commands import DatabaseUrl, console, errors, load_config
from puzzles.cli.pools import (
    BackendsFile,
    BackendUrl,
    ImportSolvers,
    ModelName,
    _factory_pools,
    _load_llm_backends,
    _run_factory,
)

FileKind = Annotated[
    str, typer.Option("--kind", help="clues, or gates (puzzle, solution, difficulty).")
]
FileFormat = Annotated[
    str | None, typer.Option("--format", help="jsonl or csv (default: from the file suffix).")
]


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
    solver: ImportSolvers = None,
    backends: BackendsFile = None,
    backend: BackendUrl = None,
    model: ModelName = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import clues, or gates; published gates without answers need a solver model (--backend)."""
    from puzzles.factory.clue_files import import_clues
    from puzzles.factory.gate_files import import_gates

    if kind not in ("clues", "gates") or status not in ("unverified", "verified"):
        errors.print("[red]--kind is clues or gates; --status is unverified or verified[/red]")
        raise typer.Exit(2)
    if whole and kind != "gates":
        errors.print("[red]--whole stores gates: use it with --kind gates[/red]")
        raise typer.Exit(2)
    config = load_config(database_url=database_url)
    pools: list = []
    solvers: list = []
    if kind == "gates" and (backend or backends or solver):
        _, solvers, pools = _factory_pools(
            _load_llm_backends(backends, backend, model), None, solver or []
        )

    async def action(engine):
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
    from puzzles.factory.clue_files import export_clues
    from puzzles.factory.gate_files import export_gates

    if kind not in ("clues", "gates"):
        errors.print("[red]--kind is clues or gates[/red]")
        raise typer.Exit(2)
    config = load_config(database_url=database_url)

    async def action(engine):
        if kind == "clues":
            return await export_clues(engine, path, statuses=status or (), fmt=fmt)
        return await export_gates(
            engine, path, count=count, length=length, tier=tier, fmt=fmt, retire=retire
        )

    written = asyncio.run(_run_factory(config.resolved_database_url, [], action))
    console.print(f"Wrote {written} {kind} to {path}.")
