"""Import and export of clues and gates as JSONL and CSV.

Clue files carry one clue per row (``CLUE_FIELDS``); exports add the factory's provenance and cost
columns (``COST_FIELDS``), which imports ignore.  Imports validate every row like the bank does
(failing rows are stored as ``rejected`` with the reason) and skip texts already in the bank, so
re-importing a file is a no-op.

Gate files hold whole gates.  The published gate-set format is one row per gate of
``(puzzle, solution, difficulty)``: the puzzle text exactly as solvers see it
(``gate.puzzle.puzzle_text``), the hidden word, and the tier.  Such rows do not say each clue's
answer, only its initial (the solution's letter), so importing them needs a solver model to
recover the answers; answers whose initial is not the solution's letter are dropped.  JSONL gate
exports also carry a ``clues`` list with answers, which imports use directly.

Exports contain answers: they are operator files, never served.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gate.answers import normalize_answer
from gate.puzzle import TIERS, PublicPuzzle, PuzzleSpec, puzzle_text
from puzzles.bank import ClueBank, text_key
from puzzles.draft import ClueDraft
from puzzles.models import (
    CLUE_STATUSES,
    REJECTED,
    TIER_EXPECTED_TOKENS,
    UNVERIFIED,
    Clue,
)
from puzzles.validate import answer_initial, validate_clue

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
_CLUE_LINE: Final = re.compile(r"^\s*\d+\.\s*\[(?P<domain>[^\]]+)\]\s*(?P<text>.+?)\s*$")
_HIDDEN: Final = re.compile(r"^\s*Hidden word \d+")
_clues = Clue.__table__


def file_format(path: Path, explicit: str | None = None) -> str:
    """``jsonl`` or ``csv``, from ``explicit`` or the file suffix."""
    fmt = (explicit or path.suffix.lstrip(".")).lower()
    if fmt in ("json", "ndjson"):
        fmt = "jsonl"
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"{path}: unknown format {fmt!r}; use .jsonl or .csv (or --format)")
    return fmt


def read_rows(path: Path, fmt: str | None = None) -> Iterator[dict[str, Any]]:
    if file_format(path, fmt) == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            yield from csv.DictReader(handle)
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{number}: expected a JSON object")
                yield row


def write_rows(
    path: Path, rows: Iterable[dict[str, Any]], fields: Sequence[str], fmt: str | None = None
) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        if file_format(path, fmt) == "csv":
            writer = csv.DictWriter(handle, fieldnames=list(fields), extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                # Lists (a JSONL gate's clues) have no CSV column; the fields list leaves them out.
                writer.writerow(row)
                count += 1
        else:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
    return count


# -- clues ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportReport:
    added: int = 0
    rejected: int = 0  # stored as rejected: failed validation
    duplicates: int = 0
    skipped: int = 0  # rows that could not be read as clues (or gate clues left unanswered)
    reasons: dict[str, int] = field(default_factory=dict)


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


def _row_values(row: dict[str, Any], source: str, default_status: str) -> dict[str, Any] | None:
    """Bank column values for one imported row, or ``None`` when it is not a clue row."""
    domain, text, answer = (str(row.get(k) or "").strip() for k in ("domain", "text", "answer"))
    if not (domain and text and answer):
        return None
    try:
        tier = int(row.get("tier") or 2)
    except ValueError:
        return None
    status = str(row.get("status") or default_status).strip()
    if status not in CLUE_STATUSES:
        return None
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
        "expected_tokens": int(expected)
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
    insert = ClueBank(engine)._insert
    added = rejected = duplicates = skipped = 0
    reasons: Counter[str] = Counter()
    seen: set[str] = set()
    async with engine.begin() as conn:
        for row in rows:
            values = _row_values(row, source, default_status)
            if values is None:
                skipped += 1
                continue
            if values["text_key"] in seen:
                duplicates += 1
                continue
            seen.add(values["text_key"])
            stmt = (
                insert(_clues)
                .values(values)
                .on_conflict_do_nothing(index_elements=[_clues.c.text_key])
                .returning(_clues.c.id)
            )
            if (await conn.execute(stmt)).scalar() is None:
                duplicates += 1
            elif values["status"] == REJECTED:
                rejected += 1
                reasons[values["reject_reason"]] += 1
            else:
                added += 1
    return ImportReport(added, rejected, duplicates, skipped, dict(reasons))


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


@dataclass(frozen=True, slots=True)
class GateRow:
    puzzle: str
    solution: str
    difficulty: int
    clues: tuple[tuple[str, str], ...]  # (domain, text) parsed from ``puzzle``
    answers: tuple[str, ...] = ()  # from a JSONL export; empty for published rows

    def __repr__(self) -> str:  # the solution stays out of logs
        return f"GateRow(clues={len(self.clues)}, difficulty={self.difficulty})"


def parse_puzzle_text(text: str) -> list[tuple[str, str]]:
    """The ``(domain, clue text)`` lines of a single-gate puzzle text."""
    hidden = sum(1 for line in text.splitlines() if _HIDDEN.match(line))
    if hidden > 1:
        raise ValueError("a gate row must hold one hidden word")
    return [
        (m.group("domain").strip(), m.group("text"))
        for line in text.splitlines()
        if (m := _CLUE_LINE.match(line))
    ]


def read_gate_rows(path: Path, fmt: str | None = None) -> list[GateRow]:
    rows: list[GateRow] = []
    for number, row in enumerate(read_rows(path, fmt), start=1):
        try:
            solution = normalize_answer(str(row["solution"]))
            clues = parse_puzzle_text(str(row["puzzle"]))
            difficulty = int(row.get("difficulty") or 2)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}: gate row {number}: {exc}") from exc
        if len(clues) != len(solution) or difficulty not in TIERS:
            raise ValueError(
                f"{path}: gate row {number}: {len(clues)} clues for a "
                f"{len(solution)}-letter solution, difficulty {difficulty}"
            )
        answers = tuple(str(c.get("answer") or "") for c in row.get("clues") or [])
        rows.append(
            GateRow(
                str(row["puzzle"]),
                solution,
                difficulty,
                tuple(clues),
                answers if len(answers) == len(clues) else (),
            )
        )
    return rows


async def import_gates(
    engine: AsyncEngine,
    path: Path,
    *,
    fmt: str | None = None,
    solver: Any = None,  # puzzles.factory.verify.Solver; needed for rows without answers
    default_status: str = UNVERIFIED,
) -> ImportReport:
    """Import the clues of gate rows (and their solutions as hidden words).

    Each clue's answer comes from the row (JSONL exports) or from ``solver``; an answer whose
    initial is not the solution's letter is dropped, since the gate would not spell its word.
    """
    from gate.errors import GateError
    from puzzles.factory import call_tags
    from puzzles.factory.parse import ParseError, parse_solution
    from puzzles.factory.prompts import SOLVE_SCHEMA, solve_messages

    gates = read_gate_rows(path, fmt)
    rows: list[dict[str, Any]] = []
    unanswered = 0
    source = f"import:{path.name}"
    for gate in gates:
        for index, (domain, text) in enumerate(gate.clues):
            answer = gate.answers[index] if gate.answers else ""
            if not answer and solver is not None:
                try:
                    completion = await solver.pool.chat(
                        solve_messages(domain=domain, text=text),
                        tags=call_tags(f"import-{path.name}"),
                        max_tokens=64,
                        temperature=0.0,
                        json_schema=SOLVE_SCHEMA,
                    )
                    answer = parse_solution(completion.text)
                    source = f"import:{path.name}+{completion.model}"
                except (GateError, ParseError):  # left unanswered, counted as skipped
                    answer = ""
            if not answer or answer_initial(answer) != gate.solution[index]:
                unanswered += 1
                continue
            rows.append(
                {
                    "domain": domain,
                    "text": text,
                    "answer": answer,
                    "tier": gate.difficulty,
                    "source": source,
                }
            )
    report = await import_clue_rows(engine, rows, source=source, default_status=default_status)
    await ClueBank(engine).add_words(g.solution for g in gates)
    return ImportReport(
        report.added,
        report.rejected,
        report.duplicates,
        report.skipped + unanswered,
        report.reasons,
    )


__all__ = [
    "CLUE_FIELDS",
    "GATE_FIELDS",
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
