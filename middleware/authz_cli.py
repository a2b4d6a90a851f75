"""``gate authz``: serve ``ForwardAuth`` (the decision alone) for an edge proxy.

Rules are those of ``gate proxy`` (``--rule``, ``--rules-file``, or ``GATE_POLICY_FILE``);
``--workers N`` runs N processes on one port (serving.workers).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from gate.config import GateConfig
from gate.errors import ConfigError
from middleware.proxy_cli import load_rules, parse_rules

__all__ = ["serve_authz"]


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
    from middleware.authz import ForwardAuth
    from serving.runner import listen_on, operator_hooks, serve
    from serving.runtime import open_runtime

    ruleset = parse_rules([*(load_rules(rules_path) if rules_path else []), *rules])
    if config is None:
        config = GateConfig.from_env()
    if not config.gate.trusted_proxies:
        raise ConfigError(
            "gate authz answers only its edge proxies: set GATE_TRUSTED_PROXIES to their addresses"
        )
    runtime = await open_runtime(config, ruleset)

    def announce() -> None:
        if ready is not None:
            ready(
                f"forward auth on http://{host}:{port}/.gate/auth ({len(ruleset.rules)} rules, "
                f"pid {os.getpid()})"
            )

    try:
        # Bound once the runtime is up: an edge never meets a port that accepts and cannot answer.
        sock = listen_on(host, port, reuse_port=reuse_port)
        try:
            async with operator_hooks(runtime, metrics_port=metrics_port):
                await serve(
                    ForwardAuth(runtime.gatekeeper),
                    host,
                    port,
                    ready=announce,
                    survive_signals=True,
                    sockets=[sock],
                    log_level=log_level,
                    lifespan="off",
                    server_header=False,
                    date_header=False,
                    access_log=False,
                    timeout_graceful_shutdown=10,
                    backlog=2048,
                )
        finally:
            sock.close()
    finally:
        await runtime.close()
