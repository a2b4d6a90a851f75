"""What every bench needs to put servers on loopback: start a process and wait for its port, stop
it, serve a trivial app in this process, run a private Redis, and mint the pass a started gate
honours.  The benches import these instead of each writing its own.

Ports come from ``tests.support.free_port``, the suite's own.  In-process servers start through
``serving.runner.serve``, the one way every gate server starts, so a bench's bare upstream runs
with the same uvicorn settings (``proxy_headers=False``) as the gated one it is compared with.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]

if TYPE_CHECKING:
    from gate.rules import Rule

__all__ = [
    "ServerStartError",
    "free_port",
    "hello",
    "load_subject",
    "mint_pass",
    "private_redis",
    "serve_app",
    "start",
    "stop",
    "store_epoch",
    "wait_http",
    "wait_port",
]


class ServerStartError(RuntimeError):
    """A server a bench started exited, or its port did not open in time."""


def wait_port(
    port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 60.0
) -> None:
    """Return once something listens on loopback ``port``; fail early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerStartError(f"server for port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ServerStartError(f"server on port {port} did not start within {timeout:.0f}s")


async def wait_http(
    client: httpx2.AsyncClient,
    url: str,
    *,
    process: subprocess.Popen[bytes] | None = None,
    timeout: float = 120.0,
    ready: Callable[[int], bool] = lambda status: status == 200,
) -> None:
    """Return once ``GET url`` answers with a status ``ready`` accepts (a port that is open is
    not yet a gate that serves: it may still be seeding its bank); fail early if ``process``
    exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerStartError(f"server for {url} exited with {process.returncode}")
        try:
            if ready((await client.get(url)).status_code):
                return
        except httpx2.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise ServerStartError(f"{url} did not answer within {timeout:.0f}s")


def start(
    command: list[str],
    port: int,
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    timeout: float = 60.0,
) -> subprocess.Popen[bytes]:
    """Start ``command`` and wait for it to listen on ``port``.  Its stdout is dropped; its
    stderr goes to ``log`` when given (read it when the start fails), else it is dropped too."""
    if log is None:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    else:
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=out
            )
    try:
        wait_port(port, process, timeout)
    except ServerStartError:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM (a gate drains and flushes its counts), then SIGKILL if it does not end."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The trivial upstream: a fixed body with its length, as most pages are sent."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello"})


async def serve_app(app: Any, port: int, *, lifespan: str = "off", **options: Any) -> None:
    """Serve ``app`` on loopback ``port`` until stopped: one uvicorn process, uvloop and
    httptools, no access log, the settings every bench measures with."""
    from serving.runner import serve

    await serve(
        app,
        "127.0.0.1",
        port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        lifespan=lifespan,
        **options,
    )


def private_redis(port: int, directory: str) -> subprocess.Popen[bytes]:
    """A throw-away ``redis-server`` on ``port`` (no persistence) that a bench may stop and
    restart; returns once it answers PING."""
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is required")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory,
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(250):
        ping = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True)
        if ping.stdout.strip() == b"PONG":
            return process
        time.sleep(0.02)
    stop(process)
    raise ServerStartError(f"redis-server on port {port} did not start")


def load_subject() -> str:
    """The identity the load runs as: 127.0.0.1's network, whose pass ``mint_pass`` mints."""
    from gate.identity import network_identity

    return network_identity("127.0.0.1")


def store_epoch(redis_url: str) -> str:
    """The epoch of the load's shard (gate.epoch): a pass minted outside the gate must carry it."""
    from gate.epoch import current_epoch
    from gate.store import RedisStore

    async def read() -> str:
        store = RedisStore.from_url(redis_url)  # the gate's default key prefix
        try:
            return await current_epoch(store, load_subject())
        finally:
            await store.close()

    return asyncio.run(read())


def mint_pass(state_dir: Path, rule: Rule, epoch: str) -> str:
    """A pass for ``rule`` as the gate would mint it after a solved puzzle: signed with the key in
    ``state_dir``, bound to 127.0.0.1's network (the address the load comes from)."""
    from gate.keys import load_keyring
    from gate.passes import PassCodec

    codec = PassCodec(load_keyring(state_dir / "signing-key.pem"))
    token, _ = codec.mint(
        subject=load_subject(),
        scope=rule.scope,
        rule=rule.digest,
        budget=rule.budget,
        price=rule.price,
        ttl=rule.pass_ttl,
        epoch=epoch,
    )
    return token
