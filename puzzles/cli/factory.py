"""``gate puzzles generate | verify | calibrate``: the LLM-written clue factory."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from gate.commands import DatabaseUrl, errors, load_config
from puzzles.cli.pools import (
    BackendsFile,
    BackendUrl,
    CalibrateConcurrency,
    CalibrateSolvers,
    GenerateConcurrency,
    GenerateSolvers,
    GeneratorName,
    JobName,
    ModelName,
    VerifyConcurrency,
    VerifySolvers,
    _factory_pools,
    _FactoryProgress,
    _load_llm_backends,
    _print_job_report,
    _run_factory,
)


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
    concurrency: GenerateConcurrency = 8,
    job: JobName = None,
    generator: GeneratorName = None,
    solver: GenerateSolvers = None,
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
        errors.print(f"[red]--mode must be {GROUNDED} or {FREE}[/red]")
        raise typer.Exit(2)
    if phrasings is not None and mode != GROUNDED:
        errors.print("[red]--phrasings needs --mode grounded (a phrasing rests on facts)[/red]")
        raise typer.Exit(2)
    if match not in MATCHES:
        errors.print(f"[red]--match must be one of {', '.join(MATCHES)}[/red]")
        raise typer.Exit(2)
    config = load_config(database_url=database_url)
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

    async def targets(engine):
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

    def run(engine, **progress):
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


def puzzles_verify(
    source: Annotated[str, typer.Option(help="Only clues whose source starts with this.")] = "",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many clues.")] = None,
    concurrency: VerifyConcurrency = 8,
    job: JobName = None,
    solver: VerifySolvers = None,
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


def _solver_job(title, verb, run, llm, database_url, **options):
    """Run a verify or calibrate job over the configured solver models with a progress bar."""
    backends, backend, model, solver = llm
    config = load_config(database_url=database_url)
    found = _load_llm_backends(backends, backend, model)
    _, solvers, pools = _factory_pools(found, None, solver or [])
    _factory_job(
        title,
        verb,
        config.resolved_database_url,
        pools,
        lambda engine, **progress: run(engine, solvers, **progress, **options),
    )


def _factory_job(title, verb, url, pools, run):
    """Run ``run(engine, on_start=..., on_item=...)`` with a progress bar and print its report."""
    with _FactoryProgress(title) as bar:
        report = asyncio.run(
            _run_factory(
                url, pools, lambda engine: run(engine, on_start=bar.start, on_item=bar.item)
            )
        )
    _print_job_report(report, verb)


def puzzles_calibrate(
    source: Annotated[str, typer.Option(help="Only clues whose source starts with this.")] = "",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many clues.")] = None,
    recalibrate: Annotated[bool, typer.Option(help="Also clues calibrated before.")] = False,
    samples: Annotated[int, typer.Option(min=1, help="Attempts per reference solver.")] = 1,
    temperature: Annotated[float, typer.Option(help="Use > 0 with --samples > 1.")] = 0.0,
    max_tokens: Annotated[int, typer.Option(min=16, help="Token cap per attempt.")] = 512,
    concurrency: CalibrateConcurrency = 8,
    job: JobName = None,
    solver: CalibrateSolvers = None,
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
