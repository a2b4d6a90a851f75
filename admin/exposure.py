"""Shortcut exposure: how much of each bank source the project's own model-free adversaries answer.

`bench/shortcut.py --state-dir DIR` attacks a live gate and writes ``DIR/shortcut-exposure.json``;
the dashboard only reads it, because measuring means running attacks for minutes and must never
happen inside a page load. A missing file is normal (the bench has not been run); a damaged one
is reported on the page rather than breaking it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

EXPOSURE_FILE = "shortcut-exposure.json"


@dataclass(frozen=True, slots=True)
class SourceExposure:
    source: str
    adversary: str
    clues: int
    correct: int

    @property
    def rate(self) -> float:
        return self.correct / self.clues if self.clues else 0.0


@dataclass(frozen=True, slots=True)
class ExposureReport:
    generated_at: str
    command: str
    rows: tuple[SourceExposure, ...]
    problem: str | None = None  # why the file could not be read, for the operator


def _rows(sources: object) -> tuple[SourceExposure, ...]:
    if not isinstance(sources, dict):
        raise ValueError("'sources' is not an object")
    rows = []
    for source, per in sources.items():
        if not isinstance(per, dict):
            raise ValueError(f"source {source!r} is not an object")
        for adversary, cell in per.items():
            clues, correct = int(cell["clues"]), int(cell["correct"])
            if clues < 0 or not 0 <= correct <= clues:
                raise ValueError(f"{source}/{adversary}: counts out of range")
            rows.append(SourceExposure(str(source), str(adversary), clues, correct))
    # The most exposed first: that is what an operator acts on.
    return tuple(sorted(rows, key=lambda r: (-r.rate, r.source, r.adversary)))


def read_exposure(state_dir: Path) -> ExposureReport | None:
    """The last bench run's exposure per source and adversary; None when it was never run."""
    path = state_dir / EXPOSURE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return ExposureReport("", "", (), problem=f"{path.name}: {type(exc).__name__}")
    try:
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return ExposureReport(
            str(data.get("generated_at", "")), str(data.get("command", "")), _rows(data["sources"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        return ExposureReport("", "", (), problem=f"{path.name}: {exc}")
