"""Puzzle bank: what can be served, what is running out, what the factory is doing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.bank import bank_counts, factory_jobs, near_limit, price_bases, sample_clues
from admin.exposure import read_exposure
from admin.sessions import Session
from admin.web import Admin, page, render


@page
async def bank_page(request: Request, admin: Admin, session: Session) -> Response:
    limit = admin.runtime.config.serve_limit
    return render(
        request,
        "bank.html",
        session=session,
        counts=await bank_counts(admin.engine),
        near=await near_limit(admin.engine, admin.runtime.store, limit),
        serve_limit=limit,
        bases=await price_bases(admin.engine),
        exposure=read_exposure(admin.runtime.config.state_dir),
        state_dir=admin.runtime.config.state_dir,
        jobs=await factory_jobs(admin.engine),
        samples=await sample_clues(admin.engine),
    )


@page
async def jobs_json(request: Request, admin: Admin, session: Session) -> Response:
    jobs = await factory_jobs(admin.engine)
    return JSONResponse(
        [
            {
                "id": job.id,
                "name": job.name,
                "kind": job.kind,
                "status": job.status,
                "total": job.total,
                "accepted": job.accepted,
                "rejected": job.rejected,
                "percent": job.percent,
            }
            for job in jobs
        ]
    )
