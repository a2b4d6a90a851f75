"""Running a gated app: uvicorn configured the way the gate needs, plus the private listeners.

Every way in starts its server through here (``serve``, on ``run_server``'s loop; ``listen_on``
for a server that binds first), so these hold everywhere:

- ``proxy_headers=False``: the gate reads forwarding headers itself, from configured trusted
  proxies only; uvicorn's own handling would believe any loopback peer's ``X-Forwarded-For``.
- SIGHUP reloads the policy file (when there is one).
- Prometheus metrics are served on a separate listener (loopback by default), never on the site.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from importlib.metadata import entry_points
from typing import Any

from gate.errors import ConfigError, GateError
from serving.runtime import Runtime
from serving.workers import listening_socket

log = logging.getLogger("reasoning_gate")
# The admin dashboard reaches ``--admin`` of the demo and the proxy through this entry point, so
# the HTTP ways in never import the dashboard (nor it them).
DASHBOARD_GROUP = "reasoning_gate.dashboard"


def run_server(main: Coroutine[Any, Any, None]) -> None:
    """Run a server coroutine on uvloop where it is installed, as uvicorn itself would."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is unavailable on Windows
        asyncio.run(main)
    else:
        uvloop.run(main)


async def with_dashboard(site: Any, runtime: Runtime) -> tuple[Any, Any]:
    """``site`` with the admin dashboard mounted at ``/_gate/admin/``, sharing ``runtime``, and the
    started dashboard (stop it before closing the runtime)."""
    found = [entry for entry in entry_points(group=DASHBOARD_GROUP) if entry.name == "admin"]
    if not found:
        raise ConfigError(
            "the admin dashboard is not installed (no reasoning_gate.dashboard entry)"
        )
    mount = found[0].load()
    return await mount(site, runtime)


def finish_after_signal() -> None:
    """Let a stop signal end ``server.serve()`` and go on to the caller's clean-up.

    uvicorn drains on SIGTERM/SIGINT, then restores the previous handlers and raises the signal
    again; with the default handler that kills the process before the runtime flushes its clue
    serve counts to SQL.  A no-op previous handler makes the re-raise harmless.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # not the main thread: nothing to install
            signal.signal(sig, lambda *_: None)


def _uvicorn_config(app: Any, host: str, port: int, **options: Any) -> Any:
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, proxy_headers=False, **options)


class ServeError(GateError):
    """The server could not start listening (the port is taken, the address is not ours)."""


def listen_on(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A bound, listening socket for ``serve(sockets=[...])``, for a server that binds before it
    serves; ``reuse_port`` shares the port with sibling workers (serving.workers).  Raises
    ``ServeError`` naming the address when it is taken or not ours."""
    try:
        return listening_socket(host, port, reuse_port=reuse_port)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


async def serve(
    app: Any,
    host: str,
    port: int,
    *,
    ready: Callable[[], None] | None = None,
    survive_signals: bool = False,
    sockets: list[Any] | None = None,
    **options: Any,
) -> None:
    """Serve ``app`` on ``host:port`` until uvicorn stops (SIGINT/SIGTERM) or the caller is
    cancelled; the one way every gate server starts.  ``sockets``: listen on these, already
    bound (the MCP gateway binds first so a port in use is one clear line).

    ``ready`` runs once uvicorn listens.  A cancelled caller stops the server the graceful way,
    so it closes its sockets (a cancelled ``serve()`` would leave the listening socket open).
    ``survive_signals``: after a stop signal the caller's clean-up still runs (see
    ``finish_after_signal``).  Raises ``ServeError`` when uvicorn cannot listen.
    """
    import anyio
    import uvicorn

    server = uvicorn.Server(_uvicorn_config(app, host, port, **options))
    if survive_signals:
        finish_after_signal()
    done = anyio.Event()
    shielded = anyio.CancelScope(shield=True)

    async def run() -> None:
        try:
            with shielded:
                await server.serve(sockets=sockets)
        except SystemExit:  # uvicorn exits this way when it cannot bind; reported below
            pass
        finally:
            done.set()

    grace = float(options.get("timeout_graceful_shutdown") or 5) + 5
    listening = False
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(run)
        try:
            while not done.is_set():  # uvicorn has no start-up callback
                if server.started:
                    listening = True
                    if ready is not None:
                        ready()
                    await done.wait()
                    break
                await anyio.sleep(0.02)
        finally:
            server.should_exit = True
            with anyio.move_on_after(grace, shield=True):
                await done.wait()
            shielded.cancel()
    if not listening:  # raised out here: inside the task group it would come as an ExceptionGroup
        raise ServeError(f"cannot listen on {host}:{port}")


@contextlib.asynccontextmanager
async def operator_hooks(
    runtime: Runtime, *, metrics_host: str = "127.0.0.1", metrics_port: int | None = None
) -> AsyncIterator[None]:
    """SIGHUP -> policy reload, and the metrics listener, for as long as the block runs."""
    from prometheus_client import start_http_server

    from gate.metrics import REGISTRY

    loop = asyncio.get_running_loop()
    watcher = runtime.watcher
    if watcher is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals on Windows
            loop.add_signal_handler(signal.SIGHUP, watcher.request_reload)
    listener = None
    if metrics_port is not None:
        # prometheus_client's own small threaded server: it needs none of the site's event loop
        # or signal handling, and a scrape never competes with requests for the loop.
        listener, _thread = start_http_server(metrics_port, addr=metrics_host, registry=REGISTRY)
        log.info("metrics on http://%s:%d/metrics", metrics_host, metrics_port)
    try:
        yield
    finally:
        if listener is not None:
            listener.shutdown()
            listener.server_close()
        if watcher is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)
