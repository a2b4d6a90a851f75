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

console = Console()  # what a command prints as its result: stdout
errors = Console(stderr=True)  # why a command failed: stderr, so a script's stdout stays clean

# Exit status of every ``gate`` command (README "Exit status"): 0 done; 1 the operation failed
# (a refused key file, an unknown name, a server that could not start); 2 the command line or the
# configuration is wrong (Click's usage errors, a bad GATE_* value); 3 ``gate db current`` found
# an old schema.
EXIT_FAILED, EXIT_USAGE, EXIT_OLD_SCHEMA = 1, 2, 3


def _no_type_for_flags() -> None:
    """Typer labels every option in ``--help`` with its type, flags too (``--admin <bool>``,
    ``--help <bool>``): a flag takes no value, so it is shown with none."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "flags_untyped", False):
        return

    def display_type_rich(self: TyperOption, ctx: typer.Context) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    display_type_rich.flags_untyped = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign,assignment]


_no_type_for_flags()

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
        errors.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
