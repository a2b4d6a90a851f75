"""Commands on a state directory that does not exist yet: one clear line, never a traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gate.cli import app

runner = CliRunner()


def _run(state: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env={"GATE_STATE_DIR": str(state)})


def test_reading_commands_name_the_missing_directory_in_one_line(tmp_path: Path) -> None:
    state = tmp_path / "not-yet"
    for args in (("puzzles", "stats"), ("apikeys", "list"), ("db", "current")):
        result = _run(state, *args)
        assert result.exit_code == 1, (args, result.output)
        assert isinstance(result.exception, SystemExit), (args, result.exception)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "does not exist" in lines[0], (args, result.output)
        assert not state.exists()  # a mistyped GATE_STATE_DIR is not created by a read


def test_writing_commands_create_the_directory(tmp_path: Path) -> None:
    state = tmp_path / "fresh" / "state"
    upgraded = _run(state, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert (state / "gate.db").exists()
    seeded = _run(tmp_path / "other", "puzzles", "seed")
    assert seeded.exit_code == 0 and "Added" in seeded.output, seeded.output
    assert _run(tmp_path / "other", "puzzles", "stats").exit_code == 0
