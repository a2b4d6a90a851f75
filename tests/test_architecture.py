"""Structure rules that keep the code base honest."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import gate
import gate.store
import middleware
from tests.support import PRODUCT_PACKAGES

ROOT = Path(__file__).parents[1]
# Every core module may only import the standard library, the gate core itself and small libraries
# made for the job (the composition root is serving.runtime, above puzzles and operator_state).
FORBIDDEN_IN_CORE = (
    *(package for package in PRODUCT_PACKAGES if package != "gate"),
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "openai",
    "httpx",
    "httpx2",
    "torch",
    "transformers",
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_import_contracts_of_pyproject_hold() -> None:
    """import-linter's contracts (``[tool.importlinter]``): the layers of DESIGN.md, a core free of
    frameworks, SQL, models and HTTP clients, and no import cycle between sibling modules."""
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_gate_core_imports_no_web_framework_database_or_outer_layer() -> None:
    offenders = []
    for path in sorted((ROOT / "gate").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for name in imported_modules(path):
            if name.split(".")[0] in FORBIDDEN_IN_CORE:
                offenders.append(f"{relative} imports {name}")
    assert offenders == []


def test_the_model_worker_is_the_only_server_in_puzzles() -> None:
    serving = set()
    for path in (ROOT / "puzzles").rglob("*.py"):
        for name in imported_modules(path):
            top = name.split(".")[0]
            assert top not in ("middleware", "mcp_server", "admin", "serving"), (path, name)
            if top in ("starlette", "uvicorn"):
                serving.add(path.relative_to(ROOT).as_posix())
    assert serving == {"puzzles/worker/app.py"}


def test_public_names_are_exactly_the_declared_ones() -> None:
    """Everything exported resolves, and every class or function a package defines and shows at
    its top level is exported on purpose (nothing becomes public by accident)."""
    for module in (gate, gate.store, middleware):
        for name in module.__all__:
            assert getattr(module, name) is not None
        for name, value in vars(module).items():
            defined_here = getattr(value, "__module__", "").startswith(module.__name__ + ".")
            if not name.startswith("_") and defined_here and callable(value):
                assert name in module.__all__, (
                    f"{module.__name__}.{name} is public but not exported"
                )
