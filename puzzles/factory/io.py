"""Import and export of clues and gates as JSONL and CSV.

Clue files carry one clue per row (``CLUE_FIELDS``); exports add the factory's provenance and cost
columns (``COST_FIELDS``), which imports ignore.  Imports validate every row like the bank does
(failing rows are stored as ``rejected`` with the reason) and skip texts already in the bank, so
re-importing a file is a no-op.

Gate files hold whole gates, one row of ``(puzzle, solution, difficulty)`` each, as JSONL, CSV or
a published set's pandas JSON (``puzzles.factory.gates`` reads them and says why a row is
skipped).  Published rows do not say each clue's answer, only its initial (the solution's letter),
so importing them needs a solver model to recover the answers; JSONL gate exports also carry a
``clues`` list with answers, which imports use directly.  By default a gate's clues join the bank
to be recombined; ``whole=True`` also stores the gate itself (``puzzles.published``) so that the
composer can serve it as published.  Every row left out is counted with its reason.

Exports contain answers: they are operator files, never served.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gate.puzzle import TIERS, PublicPuzzle, PuzzleSpec, puzzle_text
from puzzles.bank import ClueBank, text_key
from puzzles.draft import ClueDraft
from puzzles.factory.gates import (
    GateRow,
    SkippedRow,
    gate_rows,
    parse_puzzle_text,
    read_gate_file,
)
from puzzles.factory.rows import read_rows, write_rows
from puzzles.models import (
    CLUE_STATUSES,
    REJECTED,
    TIER_EXPECTED_TOKENS,
    UNVERIFIED,
    WORD_MAX,
    WORD_MIN,
    Clue,
    table_of,
)
from puzzles.published import store_whole_gate
from puzzles.validate import answer_initial, contains_answer, validate_clue

CLUE_FIELDS: Final = (
    "domain",
    "text",
    "answer",
    "tier",
    "source",
    "relation",
    "status",
    "reject_reason",
    "expected_tokens",
    "retired",
)
COST_FIELDS: Final = ("id", "gen_tokens", "verify_tokens", "generator", "solvers", "job")
GATE_FIELDS: Final = ("puzzle", "solution", "difficulty")
NO_SOLVER: Final = "no solver configured (published rows carry no clue answers)"
_clues = table_of(Clue)


# -- clues ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportReport:
    """Clue counts (``added``, ``rejected``, ``duplicates``) and, for gate files, gate counts.

    ``skipped`` counts the file's rows left out entirely (clue rows, or gate rows), each under its
    reason in ``skip_reasons``; ``dropped`` counts single clues of imported gate rows left out.
    """

    added: int = 0
    rejected: int = 0  # stored as rejected: failed validation
    duplicates: int = 0
    skipped: int = 0  # rows left out, see skip_reasons
    reasons: dict[str, int] = field(default_factory=dict)  # rejection reason -> clues
    skip_reasons: dict[str, int] = field(default_factory=dict)  # reason -> rows
    rows: int = 0  # gate rows read
    gates: int = 0  # gate rows imported (stored whole with ``whole``)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> clues of imported rows
    notes: dict[str, int] = field(default_factory=dict)  # e.g. solutions kept out of the word list


async def export_clues(
    engine: AsyncEngine, path: Path, *, statuses: Sequence[str] = (), fmt: str | None = None
) -> int:
    """Write clues (all, or those of ``statuses``) with their provenance and factory cost."""
    from puzzles.factory.jobs import clue_costs

    stmt = select(_clues).order_by(_clues.c.id)
    if statuses:
        stmt = stmt.where(_clues.c.status.in_(list(statuses)))
    async with engine.connect() as conn:
        clues = (await conn.execute(stmt)).mappings().all()
    costs = await clue_costs(engine)
    empty = {"gen_tokens": 0, "verify_tokens": 0, "generator": "", "solvers": "", "job": ""}
    rows = (
        {**{k: clue[k] for k in ("id", *CLUE_FIELDS)}, **costs.get(clue["id"], empty)}
        for clue in clues
    )
    return write_rows(path, rows, ("id", *CLUE_FIELDS, *COST_FIELDS[1:]), fmt)


def _truthy(value: Any) -> bool:
    return str(value).strip().casefold() in ("1", "true", "yes", "t")


def _row_values(row: dict[str, Any], source: str, default_status: str) -> dict[str, Any] | str:
    """Bank column values for one imported row, or why it is not a clue row."""
    domain, text, answer = (str(row.get(k) or "").strip() for k in ("domain", "text", "answer"))
    if not (domain and text and answer):
        return "missing domain, text or answer"
    try:
        tier = int(row.get("tier") or 2)
    except ValueError:
        return "tier is not a number"
    status = str(row.get("status") or default_status).strip()
    if status not in CLUE_STATUSES:
        return f"unknown status {status[:20]!r}"
    draft = ClueDraft(domain, text, answer, tier, str(row.get("source") or source))
    reason = validate_clue(draft)
    if status == REJECTED:
        reason = reason or str(row.get("reject_reason") or "rejected on import")
    expected = row.get("expected_tokens")
    return {
        "domain": domain,
        "text": text,
        "text_key": text_key(text),
        "answer": answer,
        "initial": answer_initial(answer)[:1],
        "tier": tier,
        "source": draft.source,
        "relation": str(row.get("relation") or ""),
        "status": REJECTED if reason else status,
        "reject_reason": reason,
        "expected_tokens": int(str(expected))
        if str(expected or "").strip().isdigit()
        else TIER_EXPECTED_TOKENS.get(tier, 0),
        "retired": _truthy(row.get("retired") or ""),
    }


async def import_clue_rows(
    engine: AsyncEngine,
    rows: Iterable[dict[str, Any]],
    *,
    source: str,
    default_status: str = UNVERIFIED,
) -> ImportReport:
    """Store clue rows, keeping their status and cost when given; see the module docstring."""
    writer = _ClueWriter(ClueBank(engine)._insert)
    skips: Counter[str] = Counter()
    async with engine.begin() as conn:
        for row in rows:
            values = _row_values(row, source, default_status)
            if isinstance(values, str):
                skips[values] += 1
                continue
            await writer.store(conn, values)
    return writer.report(skips)


@dataclass(frozen=True, slots=True)
class _Stored:
    """A clue row as the bank holds it after a write (new, or the one already there)."""

    id: int
    initial: str
    status: str
    reject_reason: str | None


class _ClueWriter:
    """Inserts clue rows one at a time, counting outcomes; a text already in the bank is
    returned as stored, so a gate can refer to it."""

    def __init__(self, insert: Any) -> None:
        self.insert = insert
        self.added = self.rejected = self.duplicates = 0
        self.reasons: Counter[str] = Counter()

    async def store(self, conn: AsyncConnection, values: dict[str, Any]) -> _Stored:
        stmt = (
            self.insert(_clues)
            .values(values)
            .on_conflict_do_nothing(index_elements=[_clues.c.text_key])
            .returning(_clues.c.id)
        )
        clue_id = (await conn.execute(stmt)).scalar()
        if clue_id is None:
            self.duplicates += 1
            c = _clues.c
            row = (
                await conn.execute(
                    select(c.id, c.initial, c.status, c.reject_reason).where(
                        c.text_key == values["text_key"]
                    )
                )
            ).one()
            return _Stored(*row)
        if values["status"] == REJECTED:
            self.rejected += 1
            self.reasons[values["reject_reason"]] += 1
        else:
            self.added += 1
        return _Stored(clue_id, values["initial"], values["status"], values["reject_reason"])

    def report(self, skips: Counter[str], **gates: Any) -> ImportReport:
        return ImportReport(
            self.added,
            self.rejected,
            self.duplicates,
            sum(skips.values()),
            dict(self.reasons),
            dict(skips),
            **gates,
        )


async def import_clues(
    engine: AsyncEngine, path: Path, *, fmt: str | None = None, default_status: str = UNVERIFIED
) -> ImportReport:
    return await import_clue_rows(
        engine, read_rows(path, fmt), source=f"import:{path.name}", default_status=default_status
    )


# -- gates ----------------------------------------------------------------------------------------


async def export_gates(
    engine: AsyncEngine,
    path: Path,
    *,
    count: int,
    length: int,
    tier: int,
    fmt: str | None = None,
    retire: bool = False,
) -> int:
    """Compose ``count`` gates from the servable bank and write them as published rows.

    A published gate gives its solution away, so ``retire`` withdraws its clues from serving.
    """
    from gate.store import MemoryStore
    from puzzles.composer import BankComposer

    if tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}")
    bank = ClueBank(engine)
    # Serve counts of an export are not live serves: a private store keeps them out of Redis.
    store = MemoryStore()
    composer = BankComposer(await bank.load_index(), store)
    puzzles = [await composer.compose(PuzzleSpec(1, length, tier)) for _ in range(count)]
    await store.close()
    ids = [clue.clue_id for p in puzzles for clue in p.public.gates[0].clues]
    async with engine.connect() as conn:
        answers = dict(
            (
                await conn.execute(select(_clues.c.id, _clues.c.answer).where(_clues.c.id.in_(ids)))
            ).all()
        )
    rows = []
    for puzzle in puzzles:
        gate = puzzle.public.gates[0]
        rows.append(
            {
                "puzzle": puzzle_text(PublicPuzzle((gate,), puzzle.public.tier)),
                "solution": puzzle.words[0],
                "difficulty": puzzle.public.tier,
                "clues": [
                    {
                        "domain": c.domain,
                        "text": c.text,
                        "answer": answers.get(c.clue_id, ""),
                        "tier": puzzle.public.tier,
                        "expected_tokens": c.cost,
                    }
                    for c in gate.clues
                ],
            }
        )
    written = write_rows(path, rows, GATE_FIELDS, fmt)
    if retire and ids:
        await bank.retire(ids)
    return written


def read_gate_rows(path: Path, fmt: str | None = None) -> list[GateRow]:
    """The readable gate rows of a file; :func:`import_gates` also counts the others."""
    return [row for row in gate_rows(read_gate_file(path, fmt)) if isinstance(row, GateRow)]


SOLVER_FAILED: Final = "the solver gave no usable answer to a clue"
WRONG_LETTER: Final = "a clue's answer does not start with the solution's letter"
SOLUTION_IN_CLUE: Final = "the solution appears in a clue"
NOTHING_LEFT: Final = "no clue answered with the solution's letter"
OTHER_ANSWER: Final = "a clue is already in the bank with another answer"
KNOWN_GATE: Final = "gate already in the bank"


@dataclass(frozen=True, slots=True)
class _Answer:
    domain: str
    text: str
    answer: str
    source: str  # import:<file>, plus +<model> when a solver found the answer


async def _solve(solver: Any, domain: str, text: str, tag: str) -> tuple[str, str]:
    """The solver's answer to one clue and its model; ``("", "")`` when it gave none."""
    from gate.errors import GateError
    from puzzles.factory import call_tags
    from puzzles.factory.parse import ParseError, parse_solution
    from puzzles.factory.prompts import SOLVE_SCHEMA, solve_messages

    try:
        completion = await solver.pool.chat(
            solve_messages(domain=domain, text=text),
            tags=call_tags(tag),
            max_tokens=64,
            temperature=0.0,
            json_schema=SOLVE_SCHEMA,
        )
        return parse_solution(completion.text), completion.model
    except (GateError, ParseError):
        return "", ""


def _without_article(answer: str) -> str:
    first, _, rest = answer.strip().partition(" ")
    return rest.strip() if first.casefold() in ("the", "a", "an") and rest.strip() else answer


async def _answer_gate(
    gate: GateRow, solver: Any, source: str, tag: str
) -> tuple[list[_Answer | str], str | None]:
    """Each clue's answer, or why it has none; or the reason the whole row cannot be answered.

    A gate's clues are asked at once: the pool queues them fairly and spreads them over backends.
    """
    if not gate.answers and solver is None:
        return [], NO_SOLVER

    async def answer_of(index: int, domain: str, text: str) -> _Answer | str:
        answer, model = (gate.answers[index], "") if gate.answers else ("", "")
        if not answer and solver is not None:
            answer, model = await _solve(solver, domain, text, tag)
        if model and answer_initial(answer) != gate.solution[index]:
            answer = _without_article(answer)  # solvers say "the Sun"; the bank says "Sun"
        if not answer:
            return SOLVER_FAILED
        if answer_initial(answer) != gate.solution[index]:
            return WRONG_LETTER
        return _Answer(domain, text, answer, f"{source}+{model}" if model else source)

    clues = enumerate(gate.clues)
    return list(await asyncio.gather(*(answer_of(i, d, t) for i, (d, t) in clues))), None


async def import_gates(
    engine: AsyncEngine,
    path: Path,
    *,
    fmt: str | None = None,
    solver: Any = None,  # puzzles.factory.verify.Solver; needed for rows without answers
    default_status: str = UNVERIFIED,
    whole: bool = False,
) -> ImportReport:
    """Import gate rows: their clues, their solutions as hidden words and, with ``whole``, the
    gates themselves (served as published by a composer given ``whole_gates``).

    Each clue's answer comes from the row (JSONL exports) or from ``solver``.  Without ``whole``
    a clue whose answer does not start with the solution's letter is dropped (counted in
    ``dropped``) and the rest of its row still imports; with ``whole`` any such clue, a clue the
    validator rejects or a clue naming the solution skips the row, since the gate would then not
    be a fair, solvable copy of the published one.  Rejected clues are still stored with the reason.
    """
    source = f"import:{path.name}"
    skips: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    answered: list[tuple[GateRow, list[_Answer]]] = []
    rows = list(gate_rows(read_gate_file(path, fmt)))
    for gate in rows:
        if isinstance(gate, SkippedRow):
            skips[gate.reason] += 1
            continue
        answers, reason = await _answer_gate(gate, solver, source, f"import-{path.name}")
        failures = [a for a in answers if isinstance(a, str)]
        good = [a for a in answers if isinstance(a, _Answer)]
        if reason is None and whole:
            if failures:
                reason = failures[0]
            elif any(contains_answer(f"{a.domain} {a.text}", gate.solution) for a in good):
                reason = SOLUTION_IN_CLUE
        elif reason is None:
            dropped.update(failures)
            reason = None if good else NOTHING_LEFT
        if reason is not None:
            skips[reason] += 1
            continue
        answered.append((gate, good))

    bank = ClueBank(engine)
    writer = _ClueWriter(bank._insert)
    imported: list[str] = []
    async with engine.begin() as conn:
        for gate, good in answered:
            stored = []
            for answer in good:
                values = _row_values(
                    {
                        "domain": answer.domain,
                        "text": answer.text,
                        "answer": answer.answer,
                        "tier": gate.difficulty,
                    },
                    answer.source,
                    default_status,
                )
                if isinstance(values, str):  # not expected: parsed clues have every field
                    dropped[values] += 1
                    continue
                stored.append(await writer.store(conn, values))
            if whole:
                reason = _whole_gate_problem(gate, stored)
                if reason is None and not await store_whole_gate(
                    conn,
                    bank._insert,
                    solution=gate.solution,
                    tier=gate.difficulty,
                    source=source,
                    clue_ids=[s.id for s in stored],
                ):
                    reason = KNOWN_GATE
                if reason is not None:
                    skips[reason] += 1
                    continue
            elif not WORD_MIN <= len(gate.solution) <= WORD_MAX:
                notes[
                    f"solution outside {WORD_MIN}-{WORD_MAX} letters: clues imported, "
                    "not added to the word list (import it --whole to serve it)"
                ] += 1
            imported.append(gate.solution)
    await bank.add_words(imported)
    return writer.report(
        skips, rows=len(rows), gates=len(imported), dropped=dict(dropped), notes=dict(notes)
    )


def _whole_gate_problem(gate: GateRow, stored: Sequence[_Stored]) -> str | None:
    """Why the stored clues cannot make this gate whole, or ``None``."""
    for clue in stored:
        if clue.status == REJECTED:
            return f"clue rejected: {clue.reject_reason}"
    if "".join(clue.initial for clue in stored) != gate.solution:
        return OTHER_ANSWER  # an identical text already in the bank answers another letter
    return None


__all__ = [
    "CLUE_FIELDS",
    "GATE_FIELDS",
    "NO_SOLVER",
    "GateRow",
    "ImportReport",
    "export_clues",
    "export_gates",
    "import_clue_rows",
    "import_clues",
    "import_gates",
    "parse_puzzle_text",
    "read_gate_rows",
]
