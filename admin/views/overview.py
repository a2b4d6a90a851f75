"""Overview: traffic and payments at a glance, and their history as charts."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.charts import line_chart
from admin.ledgers import client_ledgers, totals
from admin.sampler import series
from admin.sessions import Session
from admin.web import Admin, page, render
from gate.failures import recent_failures
from puzzles.health import bank_health, describe_seconds

TOP_PAYERS = 10


async def _numbers(admin: Admin, limit: int = 2_000) -> dict[str, Any]:
    """The counters, and the last ``limit`` points of history (the rate needs the last two)."""
    entries = await client_ledgers(admin.runtime.store)
    points = await series(admin.engine, hours=24, limit=max(2, limit))
    last = points[-1] if points else None
    rate = None
    if last is not None and len(points) >= 2:
        seconds = (points[-1].at - points[-2].at).total_seconds() or 1.0
        rate = round(last.values["served"] * 60 / seconds, 1)
    return {
        "totals": totals(entries).as_dict(),
        "requests_per_minute": rate,
        "top_payers": [
            {
                "identity": entry.identity,
                "tokens_paid": entry.tokens_paid,
                "solved": entry.solved,
                "issued": entry.issued,
                "served": entry.served,
            }
            for entry in entries[:TOP_PAYERS]
            if entry.tokens_paid or entry.issued
        ],
        "points": points,
    }


@page
async def overview(request: Request, admin: Admin, session: Session) -> Response:
    numbers = await _numbers(admin)
    points = numbers.pop("points")
    times = [point.at for point in points]

    def lines(*names: str) -> dict[str, list[float]]:
        return {name: [float(point.values[name]) for point in points] for name in names}

    charts = [
        line_chart("Challenges per interval", times, lines("issued", "solved", "failed")),
        line_chart("Expected solver tokens charged per interval", times, lines("tokens_paid")),
        line_chart("Requests served per interval", times, lines("served", "throttled")),
    ]
    legends = [("issued", "solved", "failed"), ("tokens_paid",), ("served", "throttled")]
    config = admin.runtime.config
    health = await bank_health(admin.engine, config.serve_limit, config.bank_low_water)
    await admin.engine.dispose()  # no idle SQL connection between page views
    return render(
        request,
        "overview.html",
        session=session,
        health=health,
        describe_seconds=describe_seconds,
        failures=await recent_failures(admin.runtime.store),
        charts=list(zip(charts, legends, strict=True)),
        interval=admin.settings.sample_interval,
        # Counters refresh as often as samples come, between every 0.5 s and every 5 s.
        refresh_ms=round(1000 * min(5.0, max(0.5, admin.settings.sample_interval))),
        **numbers,
    )


@page
async def overview_json(request: Request, admin: Admin, session: Session) -> Response:
    numbers = await _numbers(admin, limit=2)  # polled every few seconds: no whole day of rows
    numbers.pop("points")
    return JSONResponse(numbers)


@page
async def series_json(request: Request, admin: Admin, session: Session) -> Response:
    try:
        hours = min(24 * 31, max(0.01, float(request.query_params.get("hours", "24"))))
    except ValueError:
        hours = 24.0
    points = await series(admin.engine, hours=hours)
    return JSONResponse(
        {
            "interval_s": admin.settings.sample_interval,
            "points": [{"at": point.at.isoformat(), **point.values} for point in points],
        }
    )
