"""``gate authz``: serve ``ForwardAuth`` (the decision alone) for an edge proxy.

Rules are those of ``gate proxy`` (``--rule``, ``--rules-file``, or ``GATE_POLICY_FILE``).  With
``workers`` above 1 the command starts that many processes, each with its own runtime on the shared
store (``--redis-url``), all listening on one port with ``SO_REUSEPORT`` so the kernel spreads
connections; a memory store cannot be shared and is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from gate.config import GateConfig
from gate.errors import ConfigError
from middleware.proxy_cli import load_rules, parse_rules

__all__ = ["authz_socket", "serve_authz", "spawned_workers"]


def authz_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """The listening socket; ``reuse_port`` lets sibling worker processes bind the same port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def spawned_workers(argv: Sequence[str], count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start ``count`` more ``gate authz`` processes with ``argv``; stop them (SIGTERM) on exit."""
    children = [
        subprocess.Popen([sys.executable, "-m", "gate.cli", *argv], env=os.environ.copy())
        for _ in range(count)
    ]
    try:
        yield children
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


async def serve_authz(
    *,
    host: str = "127.0.0.1",
    port: int = 8081,
    rules: Sequence[str] = (),
    rules_path: Path | None = None,
    config: GateConfig | None = None,
    log_level: str = "warning",
    ready: Callable[[str], None] | None = None,
    metrics_port: int | None = None,
    reuse_port: bool = False,
) -> None:
    """Serve forward-auth decisions on ``host:port`` until cancelled or stopped by a signal.

    Raises ConfigError before anything listens when no trusted proxy is configured (every
    forward-auth request would be refused) or the rules are bad.
    """
    import uvicorn

    from middleware.authz import ForwardAuth
    from serving.runner import finish_after_signal, operator_hooks
    from serving.runtime import open_runtime

    ruleset = parse_rules([*(load_rules(rules_path) if rules_path else []), *rules])
    if config is None:
        config = GateConfig.from_env()
    if not config.gate.trusted_proxies:
        raise ConfigError(
            "gate authz answers only its edge proxies: set GATE_TRUSTED_PROXIES to their addresses"
        )
    runtime = await open_runtime(config, ruleset)
    sock = None
    try:
        # Bound once the runtime is up: an edge never meets a port that accepts and cannot answer.
        sock = authz_socket(host, port, reuse_port=reuse_port)
        server = uvicorn.Server(
            uvicorn.Config(
                ForwardAuth(runtime.gatekeeper),
                log_level=log_level,
                lifespan="off",
                proxy_headers=False,  # the gate believes forwarding headers from trusted proxies only
                server_header=False,
                date_header=False,
                access_log=False,
                timeout_graceful_shutdown=10,
                backlog=2048,
            )
        )
        hooks = operator_hooks(runtime, metrics_port=metrics_port)
        await hooks.__aenter__()
        finish_after_signal()
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        try:
            while not server.started:  # uvicorn has no start-up callback
                if serving.done():
                    await serving
                    return
                await asyncio.sleep(0.02)
            if ready is not None:
                ready(
                    f"forward auth on http://{host}:{port}/.gate/auth ({len(ruleset.rules)} rules, "
                    f"pid {os.getpid()})"
                )
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            server.should_exit = True
            await serving
            raise
        finally:
            await hooks.__aexit__(None, None, None)
    finally:
        if sock is not None:
            sock.close()
        await runtime.close()
