"""The linter and the formatter hold by themselves, like the type checker (tests/test_types.py):
ruff's rules (``[tool.ruff]`` in pyproject.toml) and its formatting over every tracked Python
file, so `make test` and CI fail on an unsorted import or an unformatted line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _tracked_python_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_finds_nothing() -> None:
    result = _ruff("check", "--no-cache", *_tracked_python_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_python_file_is_formatted() -> None:
    result = _ruff("format", "--check", "--no-cache", *_tracked_python_files())
    assert result.returncode == 0, result.stdout + result.stderr
