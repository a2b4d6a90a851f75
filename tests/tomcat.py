"""A real Apache Tomcat (Debian's tomcat10) on a loopback port, serving a few static files.

Tomcat is the upstream the path-semantics findings were about: a servlet container drops ``;``
path parameters from every segment and resolves ``/..;/``, so ``/articles;x/1.html`` is the
priced ``/articles/1.html`` to it.  The server runs from a throwaway ``CATALINA_BASE`` made from
the package's own configuration, with only the connector's address and port changed.  A missing
Tomcat raises ``TomcatMissing``: tests turn it into a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

CATALINA_HOME = Path("/usr/share/tomcat10")


class TomcatMissing(RuntimeError):
    pass


@contextlib.contextmanager
def tomcat(workdir: Path, files: Mapping[str, str], *, timeout: float = 90) -> Iterator[str]:
    """Serve ``files`` (path under the site root -> text) with Tomcat; yields the base URL."""
    if not (CATALINA_HOME / "bin" / "catalina.sh").exists() or shutil.which("java") is None:
        raise TomcatMissing("tomcat10 is not installed (make upstreams installs Debian's tomcat10)")
    base = workdir / "catalina"
    for name in ("logs", "temp", "work", "webapps/ROOT"):
        (base / name).mkdir(parents=True, exist_ok=True)
    shutil.copytree(CATALINA_HOME / "etc", base / "conf", dirs_exist_ok=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = (base / "conf" / "server.xml").read_text()
    server = server.replace('<Server port="8005"', '<Server port="-1"', 1).replace(
        '<Connector port="8080"', f'<Connector address="127.0.0.1" port="{port}"', 1
    )
    assert f'port="{port}"' in server and 'port="-1"' in server, "tomcat10's server.xml changed"
    (base / "conf" / "server.xml").write_text(server)
    for path, text in files.items():
        target = base / "webapps" / "ROOT" / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    env = {**os.environ, "CATALINA_HOME": str(CATALINA_HOME), "CATALINA_BASE": str(base)}
    log = workdir / "tomcat.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(CATALINA_HOME / "bin" / "catalina.sh"), "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout  # a JVM on a busy machine takes seconds to start
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Tomcat did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(port: int) -> bool:
    """True once Tomcat answers HTTP (its socket listens before the webapp is deployed)."""
    with socket.socket() as sock:
        sock.settimeout(2)
        if sock.connect_ex(("127.0.0.1", port)) != 0:
            return False
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        try:
            return sock.recv(12).startswith(b"HTTP/1.1 200")
        except OSError:
            return False
