"""``gate worker`` (``puzzles.worker.cli``), listening through the one server runner.

Not ``serving.workers``, which runs several processes of ``gate proxy``: this is the model server.

The worker's command lives with the worker; only its listening is done here, because
``serving.runner`` is a layer above ``puzzles``.  The ``reasoning_gate.commands`` entry point
``worker`` names ``worker`` below.
"""

from __future__ import annotations

from typing import Any

from puzzles.worker.cli import command
from serving.runner import run_server, serve


def _listen(app: Any, host: str, port: int) -> None:
    # survive_signals: after SIGTERM the worker's engine thread is still stopped by its caller.
    run_server(serve(app, host, port, survive_signals=True, log_level="info", access_log=False))


worker = command(_listen)
