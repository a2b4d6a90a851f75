"""Gate failures, counted every time and logged once per cause per interval.

A failing gate fails closed on every request; logging a traceback per request would turn a flood
into a log flood (the log is an attack surface too).  Each cause (the exception's class) is counted
in ``gate_failures_total``; its first occurrence in a process is logged with its traceback, later
ones as one line per interval that says how many were folded into it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gate import metrics


@dataclass(slots=True)
class _Cause:
    last: float  # when a line was last written for it
    folded: int = 0  # failures since then that wrote no line


class FailureLog:
    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._causes: dict[str, _Cause] = {}

    def record(self, where: str, exc: BaseException) -> None:
        """Count ``exc`` (raised while handling ``where``) and log it if its interval is up."""
        cause = type(exc).__name__
        metrics.FAILURES.labels(cause).inc()
        now = self._clock()
        seen = self._causes.get(cause)
        if seen is None:
            self._causes[cause] = _Cause(now)
            self._log.error("gate failure (%s) on %s: %s", cause, where, exc, exc_info=exc)
            return
        if now - seen.last < self._interval:
            seen.folded += 1
            return
        self._log.error(
            "gate failure (%s) on %s: %s (%d more since the last line)",
            cause,
            where,
            exc,
            seen.folded,
        )
        seen.last, seen.folded = now, 0
