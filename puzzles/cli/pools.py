"""The LLM side of the factory commands: backend options, pools, running a job with progress."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from gate.commands import console, errors

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
# --solver and --concurrency mean something a little different in each command: one help each.
_AGREE = "(repeatable; with several, they must agree)"
GenerateSolvers = Annotated[
    list[str] | None,
    typer.Option(
        "--solver",
        help=f"Verify the new clues with this backend or model {_AGREE}. "
        "Default: the generator's backends.",
    ),
]
VerifySolvers = Annotated[
    list[str] | None,
    typer.Option(
        "--solver",
        help=f"Verify with this backend or model {_AGREE}. Default: every configured backend.",
    ),
]
CalibrateSolvers = Annotated[
    list[str] | None,
    typer.Option(
        "--solver",
        help="A reference solver (backend or model name; repeatable) whose tokens and success "
        "rate set each clue's tier and cost. Default: every configured backend.",
    ),
]
ImportSolvers = Annotated[
    list[str] | None,
    typer.Option(
        "--solver",
        help="Solve published gates that come without answers with this backend or model. "
        "Default: every configured backend.",
    ),
]
GenerateConcurrency = Annotated[
    int, typer.Option(min=1, help="Clue requests (facts or targets) in flight at once.")
]
VerifyConcurrency = Annotated[int, typer.Option(min=1, help="Clues being verified at once.")]
CalibrateConcurrency = Annotated[
    int, typer.Option(min=1, help="Clues being measured at once (each by every solver).")
]


GeneratorName = Annotated[
    str | None, typer.Option(help="Backend or model name that writes clues (default: all).")
]
JobName = Annotated[
    str | None,
    typer.Option(
        "--job", help="Job name to resume (default: the unfinished job with these options)."
    ),
]


def _load_llm_backends(backends_file: Path | None, backend: str | None, model: str | None):
    """Backends from --backend/--model, --backends, or GATE_LLM_BACKENDS, in that order."""
    import os

    from gate.errors import ConfigError
    from puzzles.llm import Backend, backends_from_env, load_backends

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
        errors.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if not found:
        errors.print(
            "[red]no LLM backend:[/red] pass --backend URL --model NAME, --backends FILE "
            "or set GATE_LLM_BACKENDS"
        )
        raise typer.Exit(2)
    return found


def _pick_backends(backends, name: str):
    chosen = tuple(b for b in backends if name in (b.name, b.model))
    if not chosen:
        errors.print(f"[red]no backend or model named {name!r}[/red]")
        raise typer.Exit(2)
    return chosen


def _pool_options(role: str) -> dict[str, Any]:
    """Name (for the dashboard's snapshot) and fair-scheduling settings of a factory pool."""
    import os

    from puzzles.llm import fairness_from_env

    return {"name": f"{role}@{os.getpid()}", "fairness": fairness_from_env(os.environ)}


def _publish_pools(pools) -> list[asyncio.Task[None]]:
    """While the pools run, publish their snapshots for the dashboard (when GATE_STORE_URL names
    a shared store; a memory store would be seen by no one)."""
    from gate.settings import setting

    url = str(setting("store_url")).strip()
    if not pools or not url or url.startswith("memory:"):
        return []
    from gate.store import open_store
    from puzzles.llm import publish_every

    async def publish() -> None:
        store = open_store(url)
        try:
            await publish_every(pools, store)
        finally:
            await store.close()

    return [asyncio.create_task(publish())]


def _factory_pools(backends, generator: str | None, solver_names: list[str]):
    """(generation pool, solvers, pools to close): one pool per solver model, so they differ."""
    from puzzles.factory.verify import Solver
    from puzzles.llm import LLMPool

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
            TaskID,
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
        self.task: TaskID | None = None
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

    def item(self, outcome) -> None:
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


def _print_job_report(report, verb: str) -> None:
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


async def _run_factory(url: str, pools, action):
    from gate.errors import GateError
    from puzzles.db import create_engine
    from puzzles.migrations import create_schema

    engine = create_engine(url)
    # Probe the backends in the background so a dead one is skipped and a revived one used again.
    watches = [asyncio.create_task(pool.watch_health()) for pool in pools]
    watches += _publish_pools(pools)
    try:
        await create_schema(engine)
        return await action(engine)
    except (GateError, ValueError) as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        for watch in watches:
            watch.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        for pool in pools:
            await pool.aclose()
        await engine.dispose()
