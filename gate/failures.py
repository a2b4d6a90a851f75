"""Gate failures, counted every time and logged once per cause per interval.

A failing gate fails closed on every request; logging a traceback per request would turn a flood
into a log flood (the log is an attack surface too).  Each cause (the exception's class) is counted
in ``gate_failures_total``; its first occurrence in a process is logged with its traceback, later
ones as one line per interval that says how many were folded into it.  Given a store, each
failure also bumps an hourly per-cause counter there, so a dashboard in another process (and every
replica's failures together) can show them; that write is best effort, since the store may be what
is failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from gate import metrics
from gate.errors import StoreError
from gate.store import HIncr, Store

FAILURES_KEY = "failures:{hour}"  # hash: cause -> failures in that hour (all processes)
_HOUR = 3600.0


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
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._log = logger
        self._wall = wall
        self._interval = interval
        self._clock = clock
        self._causes: dict[str, _Cause] = {}

    async def record(self, where: str, exc: BaseException, store: Store | None = None) -> None:
        """Count ``exc`` (raised while handling ``where``) and log it if its interval is up;
        with ``store``, also in the store's hourly per-cause counter."""
        cause = type(exc).__name__
        metrics.FAILURES.labels(cause).inc()
        # A store that failed is not asked to count its own failure (it would only time out again).
        if store is not None and not isinstance(exc, StoreError):
            hour = int(self._wall() // _HOUR)
            # Never a second failure out of the first: the count is a convenience, the 503 is not.
            with contextlib.suppress(Exception):
                await store.execute([HIncr(FAILURES_KEY.format(hour=hour), cause, 1, 25 * _HOUR)])
        self._note(where, exc, cause)

    def _note(self, where: str, exc: BaseException, cause: str) -> None:
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


async def recent_failures(
    store: Store, hours: int = 24, wall: Callable[[], float] = time.time
) -> list[tuple[str, int]]:
    """Failures per cause over the last ``hours`` hours, most frequent first (empty if unknown)."""
    now = int(wall() // _HOUR)
    # One key per read: every key may live on a different Redis Cluster node.
    try:
        counts = await asyncio.gather(
            *(store.hgetall(FAILURES_KEY.format(hour=now - back)) for back in range(hours))
        )
    except Exception:  # the dashboard must render while the store is down
        return []
    total: Counter[str] = Counter()
    for hour in counts:
        total.update(hour)
    return total.most_common()
