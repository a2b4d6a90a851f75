"""The dashboard as an ASGI app, alone or mounted under a prefix of the gateway.

``create_admin_app(runtime)`` shares the gateway's store, SQL engine and gatekeeper (for price
previews).  Alone (``gate admin serve``) it starts with the server's lifespan; mounted
(``mount_admin``) the host calls ``start``/``stop`` itself, since mounted apps get no lifespan.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from admin.lockout import Lockout
from admin.sampler import sample_forever
from admin.security import SecurityHeaders
from admin.sessions import SessionStore
from admin.settings import AdminSettings
from admin.views import auth, bank, clients, overview, policy, pool
from admin.web import Admin
from puzzles.db import session_factory
from serving.lifespan import run_lifespan
from serving.runtime import Runtime

DEFAULT_PREFIX = "/_gate/admin"
GET, POST = ["GET"], ["POST"]


def _routes() -> list[Route | Mount]:
    # Every GET view is wrapped by web.page and every POST by web.action (or is the login form,
    # which checks its pre-session token itself): that is where login and CSRF are enforced.
    return [
        Route("/login", auth.login_form, methods=GET),
        Route("/login", auth.login, methods=POST),
        Route("/logout", auth.logout, methods=POST),
        Route("/", overview.overview, methods=GET),
        Route("/api/overview", overview.overview_json, methods=GET),
        Route("/api/series", overview.series_json, methods=GET),
        Route("/policy", policy.policy_page, methods=GET),
        Route("/policy", policy.policy_save, methods=POST),
        Route("/policy/price", policy.policy_price, methods=POST),
        Route("/policy/dry-run", policy.policy_dry_run, methods=POST),
        Route("/policy/preview", policy.policy_preview, methods=POST),
        Route("/clients", clients.clients_page, methods=GET),
        Route("/clients/revoke", clients.clients_revoke, methods=POST),
        Route("/clients/tier", clients.clients_tier, methods=POST),
        Route("/clients/block", clients.clients_block, methods=POST),
        Route("/bank", bank.bank_page, methods=GET),
        Route("/api/jobs", bank.jobs_json, methods=GET),
        Route("/pool", pool.pool_page, methods=GET),
        Route("/api/pool", pool.pool_json, methods=GET),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]


def state_changing_routes() -> list[str]:
    """Paths that accept POST (the CSRF test posts to each of them)."""
    return [
        route.path
        for route in _routes()
        if isinstance(route, Route) and route.methods and "POST" in route.methods
    ]


class AdminApp:
    def __init__(self, runtime: Runtime, settings: AdminSettings | None = None) -> None:
        self.settings = settings or AdminSettings.from_env()
        self.admin = Admin(
            runtime=runtime,
            settings=self.settings,
            sessions=SessionStore(runtime.store, self.settings.session_ttl),
            lockout=Lockout(
                runtime.store, self.settings.lockout_failures, self.settings.lockout_seconds
            ),
            sessionmaker=session_factory(runtime.engine),
        )
        site = Starlette(routes=_routes())
        site.state.admin = self.admin
        self.app: ASGIApp = SecurityHeaders(site)
        self._sampler: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        """Start the ledger sampler.  The tables are the runtime's business: ``open_runtime``
        checks (or brings) the schema to the current migration, which includes the dashboard's."""
        if self._sampler is None:
            self._stop = asyncio.Event()
            self._sampler = asyncio.create_task(
                sample_forever(
                    self.admin.engine,
                    self.admin.runtime.store,
                    self.settings.sample_interval,
                    self._stop,
                )
            )

    async def stop(self) -> None:
        task, self._sampler = self._sampler, None
        if task is not None:
            self._stop.set()
            await task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await run_lifespan(receive, send, self.start, self.stop)
            return
        await self.app(scope, receive, send)


def create_admin_app(runtime: Runtime, settings: AdminSettings | None = None) -> AdminApp:
    return AdminApp(runtime, settings)


def mount_admin(site: ASGIApp, dashboard: ASGIApp, prefix: str = DEFAULT_PREFIX) -> ASGIApp:
    """``site`` with ``dashboard`` answering under ``prefix`` (and never passing the gate)."""
    prefix = "/" + prefix.strip("/")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path = scope["path"]
            if path == prefix and scope["type"] == "http":
                redirect = RedirectResponse(scope.get("root_path", "") + prefix + "/", 308)
                await redirect(scope, receive, send)
                return
            if path.startswith(prefix + "/"):
                root = scope.get("root_path", "")
                await dashboard({**scope, "root_path": root + prefix}, receive, send)
                return
        await site(scope, receive, send)

    return app
