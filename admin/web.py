"""What every dashboard handler shares: the app's parts, templates, and the two guards.

``page`` wraps a read-only view (login required); ``action`` wraps every state-changing one
(login, same origin and the session's CSRF token, from the form field ``csrf`` or the
``X-CSRF-Token`` header that the dashboard's fetch() calls send).  Routes are only ever built
from these two, so no write can skip the checks.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from admin.lockout import Lockout
from admin.security import client_scheme, same_origin
from admin.sessions import SESSION_COOKIE, Session, SessionStore
from admin.settings import AdminSettings
from gate.identity import IPNetwork
from serving.runtime import Runtime

MAX_FORM_BYTES = 1 << 20  # a policy document is the largest thing an admin posts
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass
class Admin:
    """The parts every view uses; one per app."""

    runtime: Runtime
    settings: AdminSettings
    sessions: SessionStore
    lockout: Lockout
    sessionmaker: async_sessionmaker[AsyncSession]

    @property
    def engine(self) -> AsyncEngine:
        return self.runtime.engine

    @property
    def trusted_proxies(self) -> tuple[IPNetwork, ...]:
        return self.runtime.config.gate.trusted_proxies


def admin_of(request: Request) -> Admin:
    return request.app.state.admin


def url(request: Request, path: str) -> str:
    """``path`` under the prefix the dashboard is mounted at."""
    return request.scope.get("root_path", "").rstrip("/") + path


def secure_cookies(request: Request, admin: Admin) -> bool:
    if admin.settings.secure_cookie is not None:
        return admin.settings.secure_cookie
    return client_scheme(request, admin.trusted_proxies) == "https"


def set_cookie(
    response: Response, request: Request, admin: Admin, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=url(request, "/") or "/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request, admin),
    )


def render(
    request: Request,
    template: str,
    *,
    session: Session | None = None,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    page = TEMPLATES.get_template(template).render(
        root=url(request, ""),
        csrf=session.csrf if session is not None else "",
        user=session.user if session is not None else "",
        path=request.url.path,
        **values,
    )
    return HTMLResponse(page, status_code=status)


def refuse(status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status)


async def read_form(request: Request) -> FormData | Response:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        return refuse(413, "request too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:  # also when a chunked body gives no length up front
            return refuse(413, "request too large")
    request._body = bytes(body)  # starlette parses the form from the buffered body
    return await request.form(max_files=0, max_fields=200)


def csrf_ok(request: Request, session: Session, form: FormData) -> bool:
    token = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if not isinstance(token, str) or not token:
        return False
    return hmac.compare_digest(token.encode(), session.csrf.encode())


PageHandler = Callable[[Request, Admin, Session], Awaitable[Response]]
ActionHandler = Callable[[Request, Admin, Session, FormData], Awaitable[Response]]


def page(handler: PageHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        admin = admin_of(request)
        session = await admin.sessions.load(request.cookies.get(SESSION_COOKIE))
        if session is None or not session.user:
            return RedirectResponse(url(request, "/login"), status_code=303)
        return await handler(request, admin, session)

    endpoint.__name__ = handler.__name__
    return endpoint


def action(handler: ActionHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        admin = admin_of(request)
        if not same_origin(request, admin.trusted_proxies):
            return refuse(403, "cross-site request refused")
        session = await admin.sessions.load(request.cookies.get(SESSION_COOKIE))
        form = await read_form(request)
        if isinstance(form, Response):
            return form
        if session is None or not session.user or not csrf_ok(request, session, form):
            return refuse(403, "missing or invalid CSRF token (reload the page and try again)")
        return await handler(request, admin, session, form)

    endpoint.__name__ = handler.__name__
    return endpoint


def _notice_mac(session: Session, text: str) -> str:
    return hmac.new(session.id.encode(), text.encode(), "sha256").hexdigest()[:32]


def back(request: Request, session: Session, path: str, notice: str = "") -> RedirectResponse:
    """Post/redirect/get: after a write, show the page again (a reload never repeats it), with
    ``notice`` signed for this session: a crafted link cannot put words in the dashboard's mouth."""
    from urllib.parse import urlencode

    query = {"notice": notice, "mac": _notice_mac(session, notice)} if notice else {}
    target = url(request, path) + (f"?{urlencode(query)}" if query else "")
    return RedirectResponse(target, status_code=303)


def notice_of(request: Request, session: Session) -> str:
    """The notice ``back`` sent this session to, or "" for any other (a link's own text)."""
    text = request.query_params.get("notice", "")
    mac = request.query_params.get("mac", "")
    if not text or not hmac.compare_digest(mac.encode(), _notice_mac(session, text).encode()):
        return ""
    return text
