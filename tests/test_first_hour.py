"""A newcomer's first hour, from a fresh copy of the project: the README's commands as typed.

The copy holds what a clone of this working tree holds (tracked and not-ignored files) in a temporary
directory.  Its ``.venv`` is a fresh virtual environment with the copy installed in it (editable, as
``make demo`` does); the dependencies come from this test run's environment through a ``.pth`` line,
because the test may not download them.  ``make demo``'s own install step is checked with
``make -n`` (it installs the project alone, no ``[dev]`` extra), then ``make demo`` runs for real.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import site
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx2
import pytest

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "VIRTUAL_ENV"))}
    # The suite's floor settings (tests/conftest.py): the walkthrough answers at once.
    env.update(GATE_DECODE_RATE="1000000000", GATE_HUMAN_FLOOR="0", COLUMNS="200")
    return env


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("first-hour") / "reasoning-gate"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    # No pip of its own (its bundled setuptools is too old for this pyproject.toml): this run's
    # pip installs into it, with this run's setuptools.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(target / ".venv")], check=True
    )
    packages = subprocess.run(
        [
            str(target / ".venv/bin/python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(packages) / "dependencies-of-the-test-run.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n"
    )
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(target / ".venv/bin/python")),
            *("install", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--no-index", "-e", str(target)),
        ],
        check=True,
        env=_env(),
    )
    (target / ".venv/.installed-demo").touch()  # make's stamp: the install above is done
    return target


def _gate(clone: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(clone / ".venv/bin/gate"), *args],
        cwd=clone,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )


def test_make_demo_installs_the_project_without_the_test_tools(clone: Path) -> None:
    planned = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "demo"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".venv/bin/pip install --quiet -e .\n" in planned
    assert "[dev]" not in planned


def test_make_demo_serves_a_first_answer_and_says_how_to_run_gate(clone: Path) -> None:
    port = free_port()
    log = clone / "make-demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            ["make", "demo", f"ARGS=--port {port}"],
            cwd=clone,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,  # make and the gate it starts: one process group to stop
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                first = httpx2.get(f"http://127.0.0.1:{port}/articles/1", timeout=2)
                break
            except httpx2.TransportError:
                assert demo.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert first.status_code == 401 and first.json()["challenge"]["puzzle"]["gates"]
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=30)
    output = log.read_text()
    assert "Run gate as .venv/bin/gate (or '. .venv/bin/activate' first, then gate)" in output
    assert "  .venv/bin/gate demo --walkthrough" in output  # printed by make and by gate demo
    assert f"curl -i http://127.0.0.1:{port}/articles/1" in output
    assert "<hidden word>" not in output and "<pass>" not in output  # nothing to fill in by hand


def test_the_walkthrough_goes_through_the_whole_cycle(clone: Path) -> None:
    result = _gate(clone, "demo", "--walkthrough")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    steps = [
        "-> 200 OK",
        "-> 401 Unauthorized",
        'reason="missing"',
        "Hidden word 1: ",
        '{"answers": [',
        "budget 5, scope http:/articles/",
        "GET /articles/1 -> 200, Gate-Budget-Remaining: 4",
        "GET /articles/5 -> 200, Gate-Budget-Remaining: 0",
        'reason="exhausted"',
        "Done: challenged, solved, paid, spent, challenged again.",
    ]
    positions = [out.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), out


def test_gate_version_prints_the_packages_version(clone: Path) -> None:
    version = tomllib.loads((clone / "pyproject.toml").read_text())["project"]["version"]
    result = _gate(clone, "--version")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"gate (reasoning-gate) {version}\n",
        "",
    )


def _commands(clone: Path, *path: str) -> list[str]:
    listing = _gate(clone, *path, "--help").stdout
    panel = listing.split("Commands", 1)[1] if "Commands" in listing else ""
    return re.findall(r"^│ ([a-z][a-z-]*) ", panel, flags=re.M)


def test_every_command_has_readable_distinct_help(clone: Path) -> None:
    summaries: dict[str, str] = {}
    groups = _commands(clone)
    assert {"demo", "proxy", "mcp", "admin", "puzzles", "keys", "db", "apikeys"} <= set(groups)
    for group in groups:
        for path in [(group,)] + [(group, sub) for sub in _commands(clone, group)]:
            result = _gate(clone, *path, "--help")
            assert result.returncode == 0, (path, result.stderr)
            assert f"Usage: gate {' '.join(path)}" in result.stdout, path
            assert "<bool>" not in result.stdout, path  # flags take no value: none shown
            # The summary: the text between the usage line and the first panel.
            head = result.stdout.split("╭", 1)[0].split("Usage:", 1)[1].split("\n", 1)[1]
            summary = " ".join(head.split())
            assert summary, path
            summaries[" ".join(path)] = summary
    by_text: dict[str, list[str]] = {}
    for command, text in summaries.items():
        by_text.setdefault(text, []).append(command)
    assert [paths for paths in by_text.values() if len(paths) > 1] == []


def test_errors_go_to_stderr_with_the_documented_exit_status(clone: Path) -> None:
    missing = _gate(clone, "keys", "public", str(clone / "no-such-key.pem"))
    assert missing.returncode == 1 and missing.stdout == "" and "no-such-key.pem" in missing.stderr
    env = {**_env(), "GATE_MAX_ATTEMPTS": "lots"}
    bad = subprocess.run(
        [str(clone / ".venv/bin/gate"), "puzzles", "stats"],
        cwd=clone,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2 and bad.stdout == "" and "GATE_MAX_ATTEMPTS" in bad.stderr
    usage = _gate(clone, "demo", "--no-such-option")
    assert usage.returncode == 2 and usage.stdout == "" and "no-such-option" in usage.stderr
    readme = (clone / "README.md").read_text()
    assert "**Exit status**" in readme and "`2` the command line or the configuration" in readme
