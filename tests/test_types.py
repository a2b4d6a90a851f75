"""The type checker holds by itself: mypy over the whole project, the core under --strict flags
(``[tool.mypy]`` in pyproject.toml), so `make test` and CI fail on a type error."""

from __future__ import annotations

from pathlib import Path

from mypy import api

ROOT = Path(__file__).parents[1]


def test_mypy_reports_nothing_on_the_project() -> None:
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml")])
    assert status == 0, stdout + stderr
