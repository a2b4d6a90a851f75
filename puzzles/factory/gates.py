"""Reading gate files: one gate per row, as JSONL, CSV or a published set's pandas JSON.

A gate row holds the puzzle text (the clues as solvers see them), the solution and a difficulty.
Published gate sets are pandas DataFrames written with ``to_json()``: one object per column, each
keyed by the row index, ``{"Problems": {"0": text}, "Solutions": {"0": word}, "Difficulty":
{"0": "easy"}}``; ``orient="records"`` (a list of row objects) reads too.  Column names are
matched without case and with the published names as aliases (Problems, Solutions).

Reading never stops at a bad row: every row becomes a :class:`GateRow` or a :class:`SkippedRow`
with the reason, so an import reports what it left out instead of failing on row 1 or dropping
rows silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from gate.answers import normalize_answer
from gate.puzzle import TIERS

PANDAS_JSON: Final = "pandas-json"
GATE_FORMATS: Final = ("jsonl", "csv", PANDAS_JSON)
# A gate is one clue per letter; past this many it is no longer a puzzle anyone would price.
WHOLE_MAX: Final = 32
DEFAULT_DOMAIN: Final = "General"
DIFFICULTY_LABELS: Final[dict[str, int]] = {"easy": 1, "medium": 2, "hard": 3}

_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "puzzle": ("puzzle", "problems", "problem"),
    "solution": ("solution", "solutions"),
    "difficulty": ("difficulty", "difficulties", "tier"),
    "clues": ("clues",),
}
# "1. [Math] text", "1) text", "**2.** [Art] text", "Clue 3: text", "Q4. text", "- 5. text".
_CLUE_LINE: Final = re.compile(
    r"^\s*(?:[-*\u2022]\s+)?(?:\*\*)?(?:clue\s+|q|#)?(?P<n>\d{1,2})\s*(?:\*\*)?\s*[.):\u2013-]\s*"
    r"(?:\*\*)?\s*(?:\[(?P<domain>[^\]]{1,80})\]\s*[:\u2013-]?\s*)?(?P<text>.+?)\s*(?:\*\*)?\s*$",
    re.IGNORECASE,
)
_HIDDEN: Final = re.compile(r"^\s*Hidden word \d+", re.IGNORECASE)
_LETTERS: Final = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class GateRow:
    number: int  # 1-based row of the file
    puzzle: str
    solution: str  # lowercase a-z
    difficulty: int
    clues: tuple[tuple[str, str], ...]  # (domain, text) parsed from ``puzzle``
    answers: tuple[str, ...] = ()  # from a JSONL export; empty for published rows

    def __repr__(self) -> str:  # the solution stays out of logs
        return f"GateRow(number={self.number}, clues={len(self.clues)}, tier={self.difficulty})"


@dataclass(frozen=True, slots=True)
class SkippedRow:
    number: int
    reason: str


def parse_puzzle_text(text: str) -> list[tuple[str, str]]:
    """The ``(domain, clue text)`` lines of a single-gate puzzle text, numbered 1..n.

    Lines that are not numbered (instructions, headers) are ignored; a clue without a
    ``[Domain]`` gets ``DEFAULT_DOMAIN``.  A second run of numbers from 1, or a second "Hidden
    word" header, is a second gate: ``ValueError``.
    """
    if sum(1 for line in text.splitlines() if _HIDDEN.match(line)) > 1:
        raise ValueError("the puzzle text holds more than one hidden word")
    clues: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = _CLUE_LINE.match(line)
        if match is None:
            continue
        number = int(match.group("n"))
        if number == 1 and clues:
            raise ValueError("the puzzle text holds more than one hidden word")
        if number != len(clues) + 1:
            raise ValueError("the clues are not numbered 1..n")
        domain = (match.group("domain") or "").strip() or DEFAULT_DOMAIN
        clues.append((domain, match.group("text").strip()))
    return clues


def tier_of(label: Any) -> int | None:
    """The tier of a difficulty label: easy/medium/hard, 1-3 (also as text); missing is 2."""
    if label is None or (isinstance(label, str) and not label.strip()):
        return 2
    if isinstance(label, bool):
        return None
    if isinstance(label, int | float):
        number = float(label)
    else:
        text = str(label).strip().casefold()
        if text in DIFFICULTY_LABELS:
            return DIFFICULTY_LABELS[text]
        try:
            number = float(text)
        except ValueError:
            return None
    return int(number) if number.is_integer() and int(number) in TIERS else None


def _field(row: dict[str, Any], name: str) -> Any:
    folded = {str(k).strip().casefold(): v for k, v in row.items()}
    for alias in _ALIASES[name]:
        if alias in folded:
            return folded[alias]
    return None


def gate_rows(rows: Iterable[dict[str, Any]]) -> Iterator[GateRow | SkippedRow]:
    """Each raw row as a gate, or skipped with the reason."""
    for number, row in enumerate(rows, start=1):
        yield _gate_row(number, row)


def _gate_row(number: int, row: dict[str, Any]) -> GateRow | SkippedRow:
    puzzle, solution = _field(row, "puzzle"), _field(row, "solution")
    if not isinstance(puzzle, str) or not puzzle.strip():
        return SkippedRow(number, "no puzzle text")
    word = normalize_answer(str(solution or ""))
    if not word:
        return SkippedRow(number, "no solution")
    if not _LETTERS.fullmatch(word):
        return SkippedRow(number, "solution is not plain letters a-z")
    if len(word) > WHOLE_MAX:
        return SkippedRow(number, f"solution longer than {WHOLE_MAX} letters")
    label = _field(row, "difficulty")
    tier = tier_of(label)
    if tier is None:
        return SkippedRow(number, f"unknown difficulty label {str(label)[:20]!r}")
    try:
        clues = parse_puzzle_text(puzzle)
    except ValueError as exc:
        return SkippedRow(number, str(exc))
    if not clues:
        return SkippedRow(number, "no numbered clues in the puzzle text")
    if len(clues) != len(word):
        return SkippedRow(number, "clue count differs from the solution length")
    given = _field(row, "clues")
    answers = tuple(str(c.get("answer") or "") for c in given or [] if isinstance(c, dict))
    return GateRow(
        number, puzzle, word, tier, tuple(clues), answers if len(answers) == len(clues) else ()
    )


def gate_file_format(path: Path, explicit: str | None = None) -> str:
    """``jsonl``, ``csv`` or ``pandas-json``: explicit, else from the suffix and, for ``.json``,
    the document's shape (one object of column objects, or a list of rows, is pandas JSON)."""
    if explicit:
        fmt = explicit.lower()
        fmt = "jsonl" if fmt == "ndjson" else fmt
        if fmt not in (*GATE_FORMATS, "json"):
            raise ValueError(f"{path}: unknown format {fmt!r}; use jsonl, csv or {PANDAS_JSON}")
        if fmt != "json":
            return fmt
    suffix = path.suffix.lstrip(".").lower()
    if suffix == "csv":
        return "csv"
    if suffix == "json" or explicit == "json":
        return PANDAS_JSON if _pandas_document(path) is not None else "jsonl"
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    raise ValueError(f"{path}: unknown format {suffix!r}; use .jsonl, .csv or .json (or --format)")


def _pandas_document(path: Path) -> list[dict[str, Any]] | None:
    """The rows of a pandas JSON document (columns or records orient), else ``None``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None  # JSON lines are not one document
    if isinstance(document, list) and all(isinstance(row, dict) for row in document):
        return document
    if not (isinstance(document, dict) and document):
        return None
    if not all(isinstance(column, dict) for column in document.values()):
        return None
    index = {key for column in document.values() for key in column}
    ordered = sorted(index, key=lambda k: (0, int(k)) if str(k).isdigit() else (1, str(k)))
    return [{name: column.get(key) for name, column in document.items()} for key in ordered]


def read_gate_file(path: Path, fmt: str | None = None) -> list[dict[str, Any]]:
    """The raw rows of a gate file in any of ``GATE_FORMATS``."""
    from puzzles.factory.rows import read_rows

    chosen = gate_file_format(path, fmt)
    if chosen == PANDAS_JSON:
        rows = _pandas_document(path)
        if rows is None:
            raise ValueError(f"{path}: not a pandas JSON document (columns or records)")
        return rows
    return list(read_rows(path, chosen))


__all__ = [
    "DIFFICULTY_LABELS",
    "GATE_FORMATS",
    "PANDAS_JSON",
    "WHOLE_MAX",
    "GateRow",
    "SkippedRow",
    "gate_file_format",
    "gate_rows",
    "parse_puzzle_text",
    "read_gate_file",
    "tier_of",
]
