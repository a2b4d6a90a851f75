"""Resumable factory jobs recorded in SQL (``FactoryJob`` / ``FactoryItem``).

A job's items are written when the job is created, all ``pending``.  A worker finishes an item in
one transaction that stores the outcome, its token cost and, when accepted, the clue: so a batch
killed at any point loses only the items in flight (their model calls are redone), never an
accepted clue, and never stores a clue without its record.  Restarting runs the pending items only.

``find_or_create_job`` makes "run the same command again" the way to resume: an unfinished job of
the same kind and options is continued; a finished one is left alone and a new job is started.

Concurrency is bounded by ``concurrency`` workers; the pool's per-backend caps bound the model load
further.  Writes go through one lock because SQLite has a single writer, and waiting on a Python
lock is cheaper than SQLite's busy-retry loop.

Why this module is over 400 lines: the four job kinds (generate, phrase, verify, calibrate) share
one resumable-job machinery (open, claim, finish, tally, report) and differ only in their
``work`` function; they are kept beside it so the transaction rules above are checked in one
place.  Splitting it by kind is the next step when a fifth kind arrives.  What the jobs spent is
read back by ``puzzles.factory.costs``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from puzzles.bank import text_key
from puzzles.draft import ClueDraft
from puzzles.factory import ChatPool, Usage, call_tags
from puzzles.factory.calibrate import Calibration, calibrate_clue
from puzzles.factory.generate import PHRASING_PREFIX, Target, generate_candidate, phrasing_target
from puzzles.factory.parse import DUPLICATE, LLM_ERROR, UNSOLVED
from puzzles.factory.verify import ANSWER, Solver, verify_clue
from puzzles.models import (
    ITEM_ACCEPTED,
    ITEM_PENDING,
    ITEM_REJECTED,
    REJECTED,
    TIER_EXPECTED_TOKENS,
    UNVERIFIED,
    VERIFIED,
    Clue,
    FactoryItem,
    FactoryJob,
    table_of,
)
from puzzles.validate import answer_initial

_jobs = table_of(FactoryJob)
_items = table_of(FactoryItem)
_clues = table_of(Clue)


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    status: str  # accepted | rejected
    reason: str | None
    usage: Usage


@dataclass(frozen=True, slots=True)
class JobReport:
    job_id: int
    name: str
    total: int
    done_before: int  # items already finished when this run started (resumed work)
    accepted: int = 0  # in this run
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    gen_usage: Usage = field(default_factory=Usage)
    solve_usage: Usage = field(default_factory=Usage)
    models: tuple[str, ...] = ()
    wall_s: float = 0.0


@dataclass(frozen=True, slots=True)
class GenerateSettings:
    attempts: int = 3  # generation tries per target before it is rejected
    max_tokens: int = 200
    temperature: float = 0.7
    verify: bool = True  # False stores accepted clues as "unverified" for a later verify job
    solver_max_tokens: int = 64
    concurrency: int = 8
    extra_unsafe: tuple[str, ...] = ()
    match: str = ANSWER  # what a solver must reach: the answer, or only its initial (verify.py)


OnStart = Callable[[int, int], None]  # (total items, already done)
OnItem = Callable[[ItemOutcome], None]


def _params_json(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def _insert(engine: AsyncEngine) -> Any:
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


async def find_or_create_job(
    engine: AsyncEngine,
    *,
    kind: str,
    params: dict[str, Any],
    make_items: Callable[[], Awaitable[Sequence[tuple[int, dict[str, Any], int | None]]]],
    name: str | None = None,
) -> tuple[int, str]:
    """The id and name of the job to run: ``name``'s, else the unfinished one with these params.

    ``make_items`` is awaited only for a new job; it returns ``(position, target, clue_id)``.
    """
    wanted = _params_json(params)
    async with engine.connect() as conn:
        if name is not None:
            row = (await conn.execute(select(_jobs).where(_jobs.c.name == name))).first()
            if row is not None:
                if row.kind != kind:
                    raise ValueError(f"job {name!r} is a {row.kind} job, not {kind}")
                return row.id, row.name
        else:
            row = (
                await conn.execute(
                    select(_jobs)
                    .where(_jobs.c.kind == kind, _jobs.c.status == "running")
                    .where(_jobs.c.params == wanted)
                    .order_by(_jobs.c.id.desc())
                    .limit(1)
                )
            ).first()
            if row is not None:
                return row.id, row.name
    items = await make_items()
    name = name or f"{kind}-{datetime.now(UTC):%Y%m%d-%H%M%S-%f}"
    async with engine.begin() as conn:
        job_id = (
            await conn.execute(
                _jobs.insert().values(name=name, kind=kind, params=wanted).returning(_jobs.c.id)
            )
        ).scalar_one()
        if items:
            await conn.execute(
                _items.insert(),
                [
                    {
                        "job_id": job_id,
                        "position": position,
                        "target": json.dumps(target),
                        "clue_id": clue_id,
                    }
                    for position, target, clue_id in items
                ],
            )
    return job_id, name


async def _pending(engine: AsyncEngine, job_id: int) -> tuple[list[Any], int, int]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(_items.c.id, _items.c.position, _items.c.target, _items.c.clue_id)
                .where(_items.c.job_id == job_id, _items.c.status == ITEM_PENDING)
                .order_by(_items.c.position)
            )
        ).all()
        total = await conn.scalar(
            select(func.count()).select_from(_items).where(_items.c.job_id == job_id)
        )
    return list(rows), int(total or 0), int(total or 0) - len(rows)


async def _open_job(
    engine: AsyncEngine,
    *,
    kind: str,
    params: dict[str, Any],
    make_items: Callable[[], Awaitable[Sequence[tuple[int, dict[str, Any], int | None]]]],
    name: str | None,
    on_start: OnStart | None,
) -> tuple[int, str, list[Any], int, int]:
    """Find or create the job; its id, name, items still to do, items in all and items done
    (``on_start`` hears the last two)."""
    job_id, job_name = await find_or_create_job(
        engine, kind=kind, params=params, make_items=make_items, name=name
    )
    rows, total, done = await _pending(engine, job_id)
    if on_start:
        on_start(total, done)
    return job_id, job_name, rows, total, done


async def _finish_job(engine: AsyncEngine, job_id: int) -> None:
    async with engine.begin() as conn:
        left = await conn.scalar(
            select(func.count())
            .select_from(_items)
            .where(_items.c.job_id == job_id, _items.c.status == ITEM_PENDING)
        )
        if not left:
            await conn.execute(
                update(_jobs)
                .where(_jobs.c.id == job_id)
                .values(status="done", finished_at=datetime.now(UTC))
            )


class _Tally:
    """Counts of one run, fed by the workers (single event loop: no locking needed)."""

    def __init__(self) -> None:
        self.accepted = 0
        self.rejected = 0
        self.reasons: Counter[str] = Counter()
        self.gen = Usage()
        self.solve = Usage()
        self.models: dict[str, None] = {}

    def add(self, outcome: ItemOutcome, gen: Usage, solve: Usage, models: Sequence[str]) -> None:
        if outcome.status == ITEM_ACCEPTED:
            self.accepted += 1
        else:
            self.rejected += 1
            self.reasons[outcome.reason or "unknown"] += 1
        self.gen += gen
        self.solve += solve
        self.models.update(dict.fromkeys(m for m in models if m))

    def report(self, job_id: int, name: str, total: int, done: int, start: float) -> JobReport:
        return JobReport(
            job_id,
            name,
            total,
            done,
            self.accepted,
            self.rejected,
            dict(self.reasons),
            self.gen,
            self.solve,
            tuple(self.models),
            time.monotonic() - start,
        )


async def _run_workers(
    rows: Sequence[Any], concurrency: int, work: Callable[[Any], Awaitable[None]]
) -> None:
    """Run ``work`` over ``rows`` with at most ``concurrency`` in flight.

    A ``TaskGroup`` cancels every worker when one fails or the run is cancelled (Ctrl-C, a kill):
    their open transactions roll back and their items stay pending for the next run.
    """
    queue = iter(rows)

    async def worker() -> None:
        for row in queue:  # one shared iterator: each row is taken by exactly one worker
            await work(row)

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, min(concurrency, len(rows)))):
            group.create_task(worker())


def _item_values(
    status: str,
    reason: str | None,
    *,
    attempts: int,
    gen: Usage,
    solve: Usage,
    gen_model: str,
    solver_models: Sequence[str],
    detail: dict[str, Any],
    clue_id: int | None = None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "status": status,
        "reason": reason,
        "attempts": attempts,
        "gen_prompt_tokens": gen.prompt_tokens,
        "gen_completion_tokens": gen.completion_tokens,
        "solve_prompt_tokens": solve.prompt_tokens,
        "solve_completion_tokens": solve.completion_tokens,
        "gen_model": gen_model,
        "solver_models": ",".join(dict.fromkeys(solver_models)),
        "detail": json.dumps(detail),
        "updated_at": datetime.now(UTC),
    }
    if clue_id is not None:
        values["clue_id"] = clue_id
    return values


async def _insert_clue(
    conn: AsyncConnection,
    insert: Any,
    draft: ClueDraft,
    status: str,
    reason: str | None = None,
) -> int | None:
    """Insert one clue; ``None`` when its normalised text is already in the bank."""
    stmt = (
        insert(_clues)
        .values(
            domain=draft.domain.strip(),
            text=draft.text.strip(),
            text_key=text_key(draft.text),
            answer=draft.answer.strip(),
            initial=answer_initial(draft.answer)[:1],
            tier=draft.tier,
            source=draft.source,
            relation=draft.relation,
            status=status,
            reject_reason=reason,
            expected_tokens=TIER_EXPECTED_TOKENS.get(draft.tier, 0),
        )
        .on_conflict_do_nothing(index_elements=[_clues.c.text_key])
        .returning(_clues.c.id)
    )
    return (await conn.execute(stmt)).scalar()


@dataclass(slots=True)
class _Tries:
    """The generation (and verification) attempts for one item, before anything is stored."""

    accepted: ClueDraft | None = None
    reason: str | None = None
    attempts: int = 0
    gen: Usage = field(default_factory=Usage)
    solve: Usage = field(default_factory=Usage)
    gen_models: list[str] = field(default_factory=list)
    solver_models: list[str] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[ClueDraft, str]] = field(default_factory=list)  # the solvers refused

    @property
    def gen_model(self) -> str:
        return next((m for m in reversed(self.gen_models) if m), "")


async def _try_target(
    pool: ChatPool,
    solvers: Sequence[Solver],
    target: Target,
    *,
    settings: GenerateSettings,
    tags: Any,
    seen_keys: set[str],
    avoid: list[str] | None = None,
) -> _Tries:
    """Up to ``settings.attempts`` generation tries for ``target``, each screened and verified.

    With ``avoid`` (a phrasing job) every text that reached the solvers is appended to it, so the
    next try, and the fact's next phrasing, are asked to differ from it.
    """
    tries = _Tries()
    for _ in range(settings.attempts):
        tries.attempts += 1
        candidate = await generate_candidate(
            pool,
            target,
            tags=tags,
            seen_keys=seen_keys,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            extra_unsafe=settings.extra_unsafe,
            avoid=avoid or (),
        )
        tries.gen += candidate.usage
        tries.gen_models.append(candidate.model)
        if candidate.draft is None:
            tries.reason = candidate.reason
            entry = {"reason": tries.reason, "text": candidate.text}
            if candidate.detail:
                entry["detail"] = candidate.detail
            tries.log.append(entry)
            continue
        if avoid is not None:
            avoid.append(candidate.draft.text)
        if settings.verify:
            verdict = await verify_clue(
                solvers,
                domain=candidate.draft.domain,
                text=candidate.draft.text,
                answer=candidate.draft.answer,
                tags=tags,
                max_tokens=settings.solver_max_tokens,
                match=settings.match,
            )
            tries.solve += verdict.usage
            tries.solver_models.extend(verdict.models)
            if not verdict.ok:
                tries.reason = verdict.reason
                tries.log.append({"reason": tries.reason, "text": candidate.text})
                if tries.reason != LLM_ERROR:  # the design keeps failing clues, with the reason
                    tries.failed.append((candidate.draft, tries.reason or UNSOLVED))
                continue
        tries.accepted = candidate.draft
        break
    return tries


async def _store_tries(
    conn: AsyncConnection, insert: Any, item_id: int, tries: _Tries, *, verify: bool
) -> ItemOutcome:
    """Store an item's outcome in one transaction: refused clues (as rejected, with the reason),
    the accepted clue, and the item's record with its tokens."""
    for draft, why in tries.failed:
        await _insert_clue(conn, insert, draft, REJECTED, why)
    accepted, reason, clue_id = tries.accepted, tries.reason, None
    if accepted is not None:
        clue_id = await _insert_clue(conn, insert, accepted, VERIFIED if verify else UNVERIFIED)
        if clue_id is None:  # another process stored the same text meanwhile
            accepted, reason = None, DUPLICATE
    outcome = ItemOutcome(
        ITEM_ACCEPTED if accepted else ITEM_REJECTED,
        None if accepted else (reason or "unknown"),
        tries.gen + tries.solve,
    )
    await conn.execute(
        update(_items)
        .where(_items.c.id == item_id)
        .values(
            _item_values(
                outcome.status,
                outcome.reason,
                attempts=tries.attempts,
                gen=tries.gen,
                solve=tries.solve,
                gen_model=tries.gen_model,
                solver_models=tries.solver_models,
                detail={"rejections": tries.log},
                clue_id=clue_id,
            )
        )
    )
    return outcome


async def _seen_keys(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(select(_clues.c.text_key))).scalars())


async def run_generate_job(
    engine: AsyncEngine,
    pool: ChatPool,
    solvers: Sequence[Solver],
    targets: Sequence[Target] | Callable[[AsyncEngine], Awaitable[Sequence[Target]]],
    *,
    params: dict[str, Any],
    settings: GenerateSettings = GenerateSettings(),
    name: str | None = None,
    on_start: OnStart | None = None,
    on_item: OnItem | None = None,
) -> JobReport:
    """Generate (and verify) a clue for every target of the job, resuming where it stopped.

    ``targets`` (or a coroutine function of the engine building them, awaited only for a new job,
    so it can look at the bank, see ``llm_answers``) are stored
    as the job's items; accepted clues enter the bank as ``verified`` when ``settings.verify``
    (every solver answered correctly), else ``unverified``.
    """
    if settings.verify and not solvers:
        raise ValueError("verification needs at least one solver (or settings.verify=False)")

    async def make_items() -> list[tuple[int, dict[str, Any], int | None]]:
        chosen = await targets(engine) if callable(targets) else targets
        return [(i, t.to_dict(), None) for i, t in enumerate(chosen)]

    job_id, job_name, rows, total, done = await _open_job(
        engine,
        kind="generate",
        params=params,
        make_items=make_items,
        name=name,
        on_start=on_start,
    )
    seen_keys = await _seen_keys(engine)
    insert = _insert(engine)
    lock = asyncio.Lock()
    tally = _Tally()
    tags = call_tags(job_name)
    start = time.monotonic()

    async def work(row: Any) -> None:
        target = Target.from_dict(json.loads(row.target))
        tries = await _try_target(
            pool, solvers, target, settings=settings, tags=tags, seen_keys=seen_keys
        )
        async with lock, engine.begin() as conn:
            outcome = await _store_tries(conn, insert, row.id, tries, verify=settings.verify)
        tally.add(outcome, tries.gen, tries.solve, [*tries.gen_models, *tries.solver_models])
        if on_item:
            on_item(outcome)

    await _run_workers(rows, settings.concurrency, work)
    await _finish_job(engine, job_id)
    return tally.report(job_id, job_name, total, done, start)


# -- phrasings: several model-written clues per grounded fact -------------------------------------


def _fact_key(answer: str, relation: str) -> tuple[str, str]:
    from gate.answers import normalize_answer

    return normalize_answer(answer), relation


async def phrasing_counts_by_fact(engine: AsyncEngine) -> dict[tuple[str, str], int]:
    """Non-rejected phrasings in the bank per (normalised answer, ``phrasing:*`` relation)."""
    counts: Counter[tuple[str, str]] = Counter()
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(_clues.c.answer, _clues.c.relation, func.count())
            .where(_clues.c.relation.startswith(PHRASING_PREFIX), _clues.c.status != REJECTED)
            .group_by(_clues.c.answer, _clues.c.relation)
        )
        for answer, relation, n in rows:
            counts[_fact_key(answer, relation)] += int(n)
    return dict(counts)


async def phrasing_slots(
    engine: AsyncEngine, facts: Sequence[Target], per_fact: int
) -> list[Target]:
    """One phrasing target per phrasing still missing: ``per_fact`` minus the fact's phrasings
    already in the bank, so a finished job run again asks for nothing it has."""
    have = await phrasing_counts_by_fact(engine)
    slots: list[Target] = []
    for fact in facts:
        target = phrasing_target(fact)
        assert target.answer is not None  # phrasing_target refuses free targets
        missing = per_fact - have.get(_fact_key(target.answer, target.relation), 0)
        slots.extend([target] * max(0, missing))
    return slots


async def _texts_of(engine: AsyncEngine, target: Target) -> list[str]:
    """Clue texts the bank holds for the target's answer (any domain) for the model not to repeat:
    other sources' (templates) first, then refused model texts, then accepted ones, each oldest
    first; the prompt shows the newest few, so the accepted phrasings are the last to drop out."""
    from gate.answers import normalize_answer

    assert target.answer is not None
    wanted = normalize_answer(target.answer)
    c = _clues.c
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(c.text, c.answer, c.source, c.status)
                # lower() narrows the scan in SQL; normalize_answer below decides
                .where(func.lower(c.answer) == target.answer.strip().lower())
                .order_by(c.id)
            )
        ).all()
    mine = [r for r in rows if normalize_answer(r.answer) == wanted]

    def rank(row: Any) -> int:
        if not row.source.startswith("llm:"):
            return 0
        return 1 if row.status == REJECTED else 2

    return [r.text for r in sorted(mine, key=rank)]  # sorted() is stable: oldest first per rank


async def run_phrase_job(
    engine: AsyncEngine,
    pool: ChatPool,
    solvers: Sequence[Solver],
    facts: Sequence[Target] | Callable[[AsyncEngine], Awaitable[Sequence[Target]]],
    *,
    per_fact: int,
    params: dict[str, Any],
    settings: GenerateSettings = GenerateSettings(),
    name: str | None = None,
    on_start: OnStart | None = None,
    on_item: OnItem | None = None,
) -> JobReport:
    """Have the model write ``per_fact`` distinct phrasings of every grounded fact, each screened
    (``puzzles.validate.validate_clue`` included) and verified by the solvers.

    A generate job whose items are phrasing slots (see ``phrasing_slots``): accepted clues carry
    ``source="llm:<model>"`` and ``relation="phrasing:<fact relation>"``; rejected items keep
    their reason, and clues the solvers refused are stored as rejected, like every generate job.
    A fact's slots run one after another, each prompt listing the texts the bank has for the answer
    (templates included) and those written before it, so the phrasings differ; different facts
    run concurrently.  Resumable like ``run_generate_job``.
    """
    if per_fact < 1:
        raise ValueError("per_fact must be at least 1")
    if settings.verify and not solvers:
        raise ValueError("verification needs at least one solver (or settings.verify=False)")

    async def make_items() -> list[tuple[int, dict[str, Any], int | None]]:
        chosen = await facts(engine) if callable(facts) else facts
        slots = await phrasing_slots(engine, chosen, per_fact)
        return [(i, t.to_dict(), None) for i, t in enumerate(slots)]

    job_id, job_name, rows, total, done = await _open_job(
        engine,
        kind="generate",
        params={**params, "phrasings": per_fact},
        make_items=make_items,
        name=name,
        on_start=on_start,
    )
    groups: dict[str, list[Any]] = {}
    for row in rows:  # a fact's slots share its target JSON
        groups.setdefault(row.target, []).append(row)
    seen_keys = await _seen_keys(engine)
    insert = _insert(engine)
    lock = asyncio.Lock()
    tally = _Tally()
    tags = call_tags(job_name)
    start = time.monotonic()

    async def work(group: list[Any]) -> None:
        target = Target.from_dict(json.loads(group[0].target))
        avoid = await _texts_of(engine, target)
        for row in group:
            tries = await _try_target(
                pool,
                solvers,
                target,
                settings=settings,
                tags=tags,
                seen_keys=seen_keys,
                avoid=avoid,
            )
            async with lock, engine.begin() as conn:
                outcome = await _store_tries(conn, insert, row.id, tries, verify=settings.verify)
            tally.add(outcome, tries.gen, tries.solve, [*tries.gen_models, *tries.solver_models])
            if on_item:
                on_item(outcome)

    await _run_workers(list(groups.values()), settings.concurrency, work)
    await _finish_job(engine, job_id)
    return tally.report(job_id, job_name, total, done, start)


async def llm_answers(engine: AsyncEngine) -> set[str]:
    """Normalised answers that already have a non-rejected LLM clue: a new grounded job skips
    them, so running ``generate`` again covers new answers instead of rephrasing old ones."""
    from gate.answers import normalize_answer

    async with engine.connect() as conn:
        answers = (
            await conn.execute(
                select(_clues.c.answer)
                .distinct()
                .where(_clues.c.source.startswith("llm:"), _clues.c.status != REJECTED)
            )
        ).scalars()
        return {normalize_answer(a) for a in answers}


async def _clue_items(
    engine: AsyncEngine, where: Any, limit: int | None
) -> list[tuple[int, dict[str, Any], int | None]]:
    stmt = select(_clues.c.id).where(where).order_by(_clues.c.id)
    if limit:
        stmt = stmt.limit(limit)
    async with engine.connect() as conn:
        ids = (await conn.execute(stmt)).scalars().all()
    return [(clue_id, {}, clue_id) for clue_id in ids]


async def _clue_row(engine: AsyncEngine, clue_id: int | None) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(_clues.c.domain, _clues.c.text, _clues.c.answer, _clues.c.status).where(
                    _clues.c.id == clue_id
                )
            )
        ).first()


async def run_verify_job(
    engine: AsyncEngine,
    solvers: Sequence[Solver],
    *,
    source_prefix: str = "",
    limit: int | None = None,
    concurrency: int = 8,
    max_tokens: int = 64,
    name: str | None = None,
    on_start: OnStart | None = None,
    on_item: OnItem | None = None,
) -> JobReport:
    """Verify ``unverified`` clues: each becomes ``verified`` or ``rejected`` with the reason."""
    if not solvers:
        raise ValueError("verification needs at least one solver")
    where = (_clues.c.status == UNVERIFIED) & _clues.c.source.startswith(source_prefix)
    params = {"source": source_prefix, "limit": limit, "solvers": [s.name for s in solvers]}
    job_id, job_name, rows, total, done = await _open_job(
        engine,
        kind="verify",
        params=params,
        make_items=lambda: _clue_items(engine, where, limit),
        name=name,
        on_start=on_start,
    )
    lock, tally, tags, start = asyncio.Lock(), _Tally(), call_tags(job_name), time.monotonic()

    async def work(row: Any) -> None:
        clue = await _clue_row(engine, row.clue_id)
        if clue is None or clue.status != UNVERIFIED:  # deleted or decided elsewhere meanwhile
            verdict_ok, solve = False, Usage()
            reason: str | None = "skipped"
            models: tuple[str, ...] = ()
        else:
            verdict = await verify_clue(
                solvers,
                domain=clue.domain,
                text=clue.text,
                answer=clue.answer,
                tags=tags,
                max_tokens=max_tokens,
            )
            verdict_ok, reason, solve, models = (
                verdict.ok,
                verdict.reason,
                verdict.usage,
                verdict.models,
            )
        outcome = ItemOutcome(ITEM_ACCEPTED if verdict_ok else ITEM_REJECTED, reason, solve)
        async with lock, engine.begin() as conn:
            if clue is not None and clue.status == UNVERIFIED and reason != LLM_ERROR:
                # A pool outage proves nothing about the clue: it stays unverified, not rejected.
                await conn.execute(
                    update(_clues)
                    .where(_clues.c.id == row.clue_id, _clues.c.status == UNVERIFIED)
                    .values(
                        status=VERIFIED if verdict_ok else REJECTED,
                        reject_reason=None if verdict_ok else reason,
                    )
                )
            await conn.execute(
                update(_items)
                .where(_items.c.id == row.id)
                .values(
                    _item_values(
                        outcome.status,
                        outcome.reason,
                        attempts=1,
                        gen=Usage(),
                        solve=solve,
                        gen_model="",
                        solver_models=models,
                        detail={},
                    )
                )
            )
        tally.add(outcome, Usage(), solve, models)
        if on_item:
            on_item(outcome)

    await _run_workers(rows, concurrency, work)
    await _finish_job(engine, job_id)
    return tally.report(job_id, job_name, total, done, start)


async def run_calibrate_job(
    engine: AsyncEngine,
    solvers: Sequence[Solver],
    *,
    source_prefix: str = "",
    limit: int | None = None,
    recalibrate: bool = False,
    samples: int = 1,
    temperature: float = 0.0,
    max_tokens: int = 512,
    concurrency: int = 8,
    name: str | None = None,
    on_start: OnStart | None = None,
    on_item: OnItem | None = None,
) -> JobReport:
    """Set tier and ``expected_tokens`` of verified clues from reference solvers' attempts.

    Without ``recalibrate`` only clues no finished calibration item covers are taken.
    """
    if not solvers:
        raise ValueError("calibration needs at least one reference solver")
    where = (_clues.c.status == VERIFIED) & _clues.c.source.startswith(source_prefix)
    if not recalibrate:
        calibrated = (
            select(_items.c.clue_id)
            .join(_jobs, _jobs.c.id == _items.c.job_id)
            .where(_jobs.c.kind == "calibrate", _items.c.status == ITEM_ACCEPTED)
            .where(_items.c.clue_id.is_not(None))
        )
        where = where & _clues.c.id.not_in(calibrated)
    params = {
        "source": source_prefix,
        "limit": limit,
        "recalibrate": recalibrate,
        "samples": samples,
        "solvers": [s.name for s in solvers],
    }
    job_id, job_name, rows, total, done = await _open_job(
        engine,
        kind="calibrate",
        params=params,
        make_items=lambda: _clue_items(engine, where, limit),
        name=name,
        on_start=on_start,
    )
    lock, tally, tags, start = asyncio.Lock(), _Tally(), call_tags(job_name), time.monotonic()

    async def work(row: Any) -> None:
        clue = await _clue_row(engine, row.clue_id)
        result: Calibration | None = None
        if clue is not None:
            result = await calibrate_clue(
                solvers,
                domain=clue.domain,
                text=clue.text,
                answer=clue.answer,
                tags=tags,
                samples=samples,
                max_tokens=max_tokens,
                temperature=temperature,
            )
        usable = result is not None and any(a.error != LLM_ERROR for a in result.attempts)
        solve = result.usage if result else Usage()
        models = result.models if result else ()
        outcome = ItemOutcome(
            ITEM_ACCEPTED if usable else ITEM_REJECTED,
            None if usable else (LLM_ERROR if result else "skipped"),
            solve,
        )
        async with lock, engine.begin() as conn:
            detail: dict[str, Any] = {}
            if usable and result is not None:
                detail = {
                    "tier": result.tier,
                    "expected_tokens": result.expected_tokens,
                    "success_rate": result.success_rate,
                    "mean_tokens": result.mean_tokens,
                }
                await conn.execute(
                    update(_clues)
                    .where(_clues.c.id == row.clue_id)
                    .values(tier=result.tier, expected_tokens=result.expected_tokens)
                )
            await conn.execute(
                update(_items)
                .where(_items.c.id == row.id)
                .values(
                    _item_values(
                        outcome.status,
                        outcome.reason,
                        attempts=len(result.attempts) if result else 0,
                        gen=Usage(),
                        solve=solve,
                        gen_model="",
                        solver_models=models,
                        detail=detail,
                    )
                )
            )
        tally.add(outcome, Usage(), solve, models)
        if on_item:
            on_item(outcome)

    await _run_workers(rows, concurrency, work)
    await _finish_job(engine, job_id)
    return tally.report(job_id, job_name, total, done, start)
