"""What the ``gate`` subcommands of every package share: the console, common options, and the
configuration loader that turns a bad ``GATE_*`` value into one line and exit status 2.

Each package owns its own subcommands (``middleware.cli``, ``mcp_server.cli``, ``puzzles.cli``,
``operator_state.cli``, ``admin.cli``); ``gate.cli`` assembles them from entry points.  Commands
import their heavy parts lazily so ``gate --help`` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from gate.config import GateConfig

console = Console()

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Clue bank database (default: GATE_DATABASE_URL or SQLite in GATE_STATE_DIR).",
    ),
]


MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics (never on the public listener).",
    ),
]


def load_config(**overrides: object) -> GateConfig:
    """The ``GATE_*`` environment with ``overrides`` over it; a bad value exits 2 naming it."""
    from gate.config import GateConfig
    from gate.errors import ConfigError

    try:
        return GateConfig.from_env(**overrides)  # type: ignore[arg-type]
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
