"""The decision log: one JSON line per decision, for an operator's log pipeline (opt-in).

``GATE_DECISION_LOG`` turns it on: ``-`` writes to stderr, anything else names a file the lines are
appended to.  Each line holds ``time`` (UTC, ISO 8601), ``identity`` (the gate's client key, e.g.
``net:192.0.2.0/24``), ``rule``, ``action`` (the rule's: allow, deny, price), ``outcome`` (what the
gate did: allow, pass, allowance, challenge, throttle, deny, blocked, dry_run:<would>), ``reason``
(why a challenge was asked, or null), ``price`` (expected solver tokens asked, or null),
``latency_ms`` and ``request_id`` (the request's ``X-Request-Id``, or null).

What never appears: an expected answer, a pass or any credential, a challenge id (it is what an
answer is posted to), request headers other than the request id.  Lines are handed to a logging
queue and written by a thread, so a slow disk never stalls the event loop.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import sys
from datetime import UTC, datetime
from typing import IO, Any, Final

LOGGER_NAME: Final = "reasoning_gate.decisions"
REQUEST_ID_HEADER: Final = "x-request-id"
_MAX_REQUEST_ID: Final = 128  # a client-chosen value: bounded, like everything a client sends


class DecisionLog:
    """Writes decision records as JSON lines to a stream or a file, through a queue."""

    def __init__(self, target: str | IO[str]) -> None:
        if isinstance(target, str):
            handler: logging.Handler = (
                logging.StreamHandler(sys.stderr)
                if target == "-"
                else logging.handlers.WatchedFileHandler(target, encoding="utf-8")
            )
        else:
            handler = logging.StreamHandler(target)
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener = logging.handlers.QueueListener(self._queue, handler)
        self._handler = handler
        # A logger of its own: no propagation, so the lines never mix with the service's log
        # formatting (and never reach it twice).
        self._logger = logging.Logger(LOGGER_NAME, logging.INFO)
        self._logger.addHandler(logging.handlers.QueueHandler(self._queue))
        self._listener.start()

    def write(self, record: dict[str, Any]) -> None:
        self._logger.info(json.dumps(record, separators=(",", ":"), ensure_ascii=False))

    def close(self) -> None:
        """Write what is queued and release the target."""
        self._listener.stop()
        self._handler.close()


def decision_record(
    *,
    now: float,
    identity: str,
    rule: str,
    action: str,
    outcome: str,
    reason: str | None,
    price: int | None,
    latency: float,
    request_id: str | None,
) -> dict[str, Any]:
    """One line's fields; only these, so nothing secret can slip in by accident."""
    return {
        "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        "identity": identity,
        "rule": rule,
        "action": action,
        "outcome": outcome,
        "reason": reason,
        "price": price,
        "latency_ms": round(latency * 1000, 3),
        "request_id": request_id[:_MAX_REQUEST_ID] if request_id else None,
    }
