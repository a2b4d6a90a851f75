"""LLM pool: every live pool's backends (health, load) and flows (queue, service, fairness)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.sessions import Session
from admin.web import Admin, page, render
from puzzles.llm.snapshot import read_pool_snapshots


@page
async def pool_page(request: Request, admin: Admin, session: Session) -> Response:
    pools = await read_pool_snapshots(admin.runtime.store)
    return render(request, "pool.html", session=session, pools=pools)


@page
async def pool_json(request: Request, admin: Admin, session: Session) -> Response:
    return JSONResponse(await read_pool_snapshots(admin.runtime.store))
