"""Import and export of gate files: whole gates, one row of ``(puzzle, solution, difficulty)``
each, as JSONL, CSV or a published set's pandas JSON (``puzzles.factory.gates`` reads them and says
why a row is skipped).

Published rows do not say each clue's answer, only its initial (the solution's letter), so
importing them needs a solver model to recover the answers; JSONL gate exports also carry a
``clues`` list with answers, which imports use directly.  By default a gate's clues join the bank
to be recombined; ``whole=True`` also stores the gate itself (``puzzles.published``) so that the
composer can serve it as published.  Every row left out is counted with its reason.  The clues
are written as clue imports write them (``puzzles.factory.clue_files``).

Exports contain answers: they are operator files, never served.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gate.puzzle import TIERS, PublicPuzzle, PuzzleSpec, puzzle_text
from puzzles.bank import ClueBank
from puzzles.factory.clue_files import ClueWriter, ImportReport, Stored, clue_values
from puzzles.factory.gates import GateRow, SkippedRow, gate_rows, read_gate_file
from puzzles.factory.rows import write_rows
from puzzles.models import REJECTED, UNVERIFIED, WORD_MAX, WORD_MIN, Clue, table_of
from puzzles.published import store_whole_gate
from puzzles.validate import answer_initial, contains_answer

__all__ = ["GATE_FIELDS", "NO_SOLVER", "export_gates", "import_gates", "read_gate_rows"]

GATE_FIELDS: Final = ("puzzle", "solution", "difficulty")
NO_SOLVER: Final = "no solver configured (published rows carry no clue answers)"
_clues = table_of(Clue)


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
    writer = ClueWriter(bank._insert)
    imported: list[str] = []
    async with engine.begin() as conn:
        for gate, good in answered:
            stored = []
            for answer in good:
                values = clue_values(
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


def _whole_gate_problem(gate: GateRow, stored: Sequence[Stored]) -> str | None:
    """Why the stored clues cannot make this gate whole, or ``None``."""
    for clue in stored:
        if clue.status == REJECTED:
            return f"clue rejected: {clue.reject_reason}"
    if "".join(clue.initial for clue in stored) != gate.solution:
        return OTHER_ANSWER  # an identical text already in the bank answers another letter
    return None
