"""A failing gate fails closed on every request but logs one line per cause per interval."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gate import metrics
from gate.errors import StoreError
from gate.failures import FailureLog, recent_failures
from gate.gatekeeper import Gatekeeper
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.rules import Rule, RuleSet
from gate.store import MemoryStore, Store
from middleware import GateMiddleware
from tests.support import FixedWordSource


class _DownStore(MemoryStore):
    async def execute(self, ops: Sequence[Any]) -> list[Any]:
        raise StoreError("connection refused")


def _failures(cause: str) -> float:
    return metrics.REGISTRY.get_sample_value("gate_failures_total", {"cause": cause}) or 0.0


def test_a_flood_of_failures_writes_a_few_lines_not_one_per_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gatekeeper = Gatekeeper(
        _DownStore(), FixedWordSource(), PassCodec(KeyRing.generate()), RuleSet([Rule("/paid/")])
    )
    client = TestClient(GateMiddleware(Starlette(), gatekeeper), client=("192.0.2.1", 1))
    before = _failures("StoreError")
    with caplog.at_level(logging.ERROR):
        statuses = {client.get(f"/paid/{n}").status_code for n in range(200)}
    assert statuses == {503}  # fail closed, every time
    assert _failures("StoreError") == before + 200  # counted, every time
    lines = [r for r in caplog.records if "gate failure" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is not None  # the first, with its traceback
    assert sum(len(r.getMessage()) for r in caplog.records) / 200 < 200  # bytes per refusal


async def test_each_cause_gets_a_line_per_interval_saying_how_many_were_folded() -> None:
    now = [0.0]
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("test.failures")
    logger.addHandler(Keep())
    failures = FailureLog(logger, interval=60.0, clock=lambda: now[0])
    for _ in range(10):
        await failures.record("GET /a", StoreError("down"))
    await failures.record("GET /b", ValueError("odd"))
    now[0] = 61.0
    await failures.record("GET /a", StoreError("down"))
    messages = [r.getMessage() for r in records]
    assert len(messages) == 3
    assert messages[2].endswith("(9 more since the last line)")
    assert records[2].exc_info is None  # tracebacks only the first time


async def test_failures_are_counted_per_cause_and_hour_in_the_store_for_the_dashboard(
    store: Store,
) -> None:
    wall = [10 * 3600.0 + 5]
    failures = FailureLog(logging.getLogger("test.failures"), wall=lambda: wall[0])
    for _ in range(3):
        await failures.record("GET /a", LookupError("bank"), store)
    wall[0] += 3600.0  # the next hour: a new counter, still within the last 24 hours
    await failures.record("GET /a", LookupError("bank"), store)
    await failures.record("GET /b", ValueError("odd"), store)
    # The store's own failure is not written back to the store that just failed.
    await failures.record("GET /c", StoreError("down"), store)
    assert await recent_failures(store, wall=lambda: wall[0]) == [
        ("LookupError", 4),
        ("ValueError", 1),
    ]
    assert await recent_failures(store, hours=1, wall=lambda: wall[0]) == [
        ("LookupError", 1),
        ("ValueError", 1),
    ]
    assert await recent_failures(_DownStore(), wall=lambda: wall[0]) == []  # page still renders
