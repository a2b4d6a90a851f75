"""Logging in and out."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.security import same_origin
from admin.sessions import LOGIN_COOKIE, LOGIN_TTL, SESSION_COOKIE, Session
from admin.web import (
    Admin,
    action,
    admin_of,
    csrf_ok,
    read_form,
    refuse,
    render,
    set_cookie,
    url,
)
from gate.identity import client_address
from operator_state.audit import record_action
from operator_state.users import authenticate

FAILED = "Wrong user name or password."
LOCKED = "Too many failed logins. Try again later."


def _address(request: Request, admin: Admin) -> str:
    peer = request.client.host if request.client else None
    forwarded = tuple(request.headers.getlist("x-forwarded-for"))
    return client_address(peer, forwarded, admin.trusted_proxies)


async def login_form(request: Request) -> Response:
    admin = admin_of(request)
    session = await admin.sessions.load(request.cookies.get(SESSION_COOKIE))
    if session is not None and session.user:
        return RedirectResponse(url(request, "/"), status_code=303)
    pre = await admin.sessions.load(request.cookies.get(LOGIN_COOKIE))
    if pre is None or pre.user:
        pre = await admin.sessions.create("")
    response = render(request, "login.html", login_csrf=pre.csrf, error="")
    set_cookie(response, request, admin, LOGIN_COOKIE, pre.id, int(LOGIN_TTL))
    return response


async def login(request: Request) -> Response:
    admin = admin_of(request)
    if not same_origin(request, admin.trusted_proxies):
        return refuse(403, "cross-site request refused")
    form = await read_form(request)
    if isinstance(form, Response):
        return form
    pre = await admin.sessions.load(request.cookies.get(LOGIN_COOKIE))
    if pre is None or pre.user or not csrf_ok(request, pre, form):
        return refuse(403, "missing or invalid CSRF token (reload the login page)")
    username = str(form.get("username", "")).strip()[:100]
    password = str(form.get("password", ""))
    address = _address(request, admin)

    def again(error: str, status: int) -> Response:
        return render(
            request,
            "login.html",
            login_csrf=pre.csrf,
            error=error,
            username=username,
            status=status,
        )

    if await admin.lockout.locked(username, address):
        return again(LOCKED, 429)
    if not username or not await authenticate(admin.engine, username, password):
        await admin.lockout.failed(username, address)
        await record_action(admin.engine, username or "-", "login-failed", address)
        return again(FAILED, 401)
    await admin.lockout.succeeded(username, address)
    await admin.sessions.end(pre.id)
    session = await admin.sessions.create(username)
    await record_action(admin.engine, username, "login", address)
    response = RedirectResponse(url(request, "/"), status_code=303)
    set_cookie(
        response, request, admin, SESSION_COOKIE, session.id, int(admin.settings.session_ttl)
    )
    response.delete_cookie(LOGIN_COOKIE, path=url(request, "/") or "/")
    return response


@action
async def logout(request: Request, admin: Admin, session: Session, form: FormData) -> Response:
    await admin.sessions.end(session.id)
    await record_action(admin.engine, session.user, "logout")
    response = RedirectResponse(url(request, "/login"), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=url(request, "/") or "/")
    return response
