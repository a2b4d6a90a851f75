"""Import and export of clue files (JSONL and CSV), and the clue writer gate imports share.

Clue files carry one clue per row (``CLUE_FIELDS``); exports add the factory's provenance and cost
columns (``COST_FIELDS``), which imports ignore.  Imports validate every row like the bank does
(failing rows are stored as ``rejected`` with the reason) and skip texts already in the bank, so
re-importing a file is a no-op.

Exports contain answers: they are operator files, never served.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from puzzles.bank import ClueBank, text_key
from puzzles.draft import ClueDraft
from puzzles.factory.rows import read_rows, write_rows
from puzzles.models import (
    CLUE_STATUSES,
    REJECTED,
    TIER_EXPECTED_TOKENS,
    UNVERIFIED,
    Clue,
    table_of,
)
from puzzles.validate import answer_initial, validate_clue

__all__ = [
    "CLUE_FIELDS",
    "COST_FIELDS",
    "ClueWriter",
    "ImportReport",
    "Stored",
    "clue_values",
    "export_clues",
    "import_clue_rows",
    "import_clues",
]

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
_clues = table_of(Clue)


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
    from puzzles.factory.costs import clue_costs

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


def clue_values(row: dict[str, Any], source: str, default_status: str) -> dict[str, Any] | str:
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
    writer = ClueWriter(ClueBank(engine)._insert)
    skips: Counter[str] = Counter()
    async with engine.begin() as conn:
        for row in rows:
            values = clue_values(row, source, default_status)
            if isinstance(values, str):
                skips[values] += 1
                continue
            await writer.store(conn, values)
    return writer.report(skips)


@dataclass(frozen=True, slots=True)
class Stored:
    """A clue row as the bank holds it after a write (new, or the one already there)."""

    id: int
    initial: str
    status: str
    reject_reason: str | None


class ClueWriter:
    """Inserts clue rows one at a time, counting outcomes; a text already in the bank is
    returned as stored, so a gate can refer to it."""

    def __init__(self, insert: Any) -> None:
        self.insert = insert
        self.added = self.rejected = self.duplicates = 0
        self.reasons: Counter[str] = Counter()

    async def store(self, conn: AsyncConnection, values: dict[str, Any]) -> Stored:
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
            return Stored(*row)
        if values["status"] == REJECTED:
            self.rejected += 1
            self.reasons[values["reject_reason"]] += 1
        else:
            self.added += 1
        return Stored(clue_id, values["initial"], values["status"], values["reject_reason"])

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
