"""The real edge proxies (Debian's nginx and caddy) started on loopback from the configs in deploy/.

The shipped files are used as they are; only their addresses are replaced (nginx has no variables
at that level; the Caddyfile reads them from the environment).  Shared by tests/test_edge.py and
bench/edge.py.  A missing binary raises ``EdgeMissing``: tests turn it into a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NGINX_CONF = ROOT / "deploy" / "nginx" / "reasoning-gate.conf"
NGINX_PROXY_CONF = ROOT / "deploy" / "nginx" / "reasoning-gate-proxy.conf"
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"

EDGES = ("nginx", "caddy")


class EdgeMissing(RuntimeError):
    pass


def _binary(name: str) -> str:
    found = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    if found is None:
        raise EdgeMissing(f"{name} is not installed (make edge installs Debian's {name})")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 15
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"edge proxy exited ({process.returncode}): {log.read_text()[-2000:]}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"edge proxy did not listen on {port}: {log.read_text()[-2000:]}")


def nginx_config(workdir: Path, *, port: int, gate: str, site: str, workers: int = 1) -> Path:
    """A main nginx.conf under ``workdir`` that includes deploy/nginx's file with these addresses."""
    text = NGINX_CONF.read_text()
    replaced = (
        text.replace("server 127.0.0.1:8081;", f"server {gate};")
        .replace("server 127.0.0.1:3000;", f"server {site};")
        .replace("listen 8080;", f"listen 127.0.0.1:{port};")
        .replace("/var/cache/nginx/reasoning-gate", str(workdir / "gate-cache"))
    )
    assert replaced.count(gate) == 1 and replaced.count(site) == 1, "deploy/nginx addresses moved"
    (workdir / "reasoning-gate.conf").write_text(replaced)
    shutil.copy(NGINX_PROXY_CONF, workdir / "reasoning-gate-proxy.conf")
    temps = "\n".join(
        f"    {kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = workdir / "nginx.conf"
    # As root, nginx's workers run as nobody, who cannot enter the test's private directories
    # where the decision cache lives.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main.write_text(
        f"""daemon off;
{user}worker_processes {workers};
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temps}
    include {workdir / "reasoning-gate.conf"};
}}
"""
    )
    return main


@contextlib.contextmanager
def edge_proxy(
    kind: str, workdir: Path, *, gate: str, site: str, workers: int = 1
) -> Iterator[str]:
    """Run ``kind`` (nginx or caddy) in front of ``site`` asking ``gate`` (host:port each);
    yields its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = workdir / "edge.log"
    if kind == "nginx":
        conf = nginx_config(workdir, port=port, gate=gate, site=site, workers=workers)
        command = [
            _binary("nginx"),
            "-c",
            str(conf),
            "-p",
            str(workdir),
            "-e",
            str(workdir / "error.log"),
        ]
        env = os.environ.copy()
    elif kind == "caddy":
        command = [_binary("caddy"), "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
        env = {
            **os.environ,
            "SITE_ADDRESS": f"http://127.0.0.1:{port}",
            "GATE_AUTHZ": gate,
            "SITE_UPSTREAM": site,
            "CADDY_ADMIN": "off",
            "CADDY_BIND": "127.0.0.1",
            "XDG_DATA_HOME": str(workdir / "data"),
            "XDG_CONFIG_HOME": str(workdir / "config"),
            "HOME": str(workdir),
        }
        if workers > 1:
            env["GOMAXPROCS"] = str(workers)
    else:
        raise ValueError(f"unknown edge proxy {kind!r}")
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_listening(port, process, log if kind == "caddy" else workdir / "error.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
