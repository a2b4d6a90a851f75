"""Rows in and out of JSONL and CSV files: the file layer under clue and gate import/export."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any


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
