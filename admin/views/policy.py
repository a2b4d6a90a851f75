"""Prices and policy: the stored policy, quick price and dry-run edits, a price preview, and the
trail of changes.  Every edit goes through the policy store, which validates it and which every
replica polls, so a change reaches all of them without a restart."""

from __future__ import annotations

import copy

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from admin.policy_text import rule_rows, starter_policy
from admin.sessions import Session
from admin.web import Admin, action, back, notice_of, page, render
from gate.errors import ConfigError
from gate.gatekeeper import Gatekeeper, Preview, Visitor
from gate.policy import parse_policy
from operator_state.audit import recent_actions, record_action
from operator_state.policy_store import (
    current_policy,
    policy_history,
    save_policy,
    set_dry_run,
    set_rule_price,
)


async def _current_text(admin: Admin) -> tuple[str, int | None]:
    stored = await current_policy(admin.sessionmaker)
    if stored is not None:
        return stored.text, stored.version
    return starter_policy(admin.runtime.gatekeeper.rules), None


async def _page(
    request: Request,
    admin: Admin,
    session: Session,
    *,
    draft: str | None = None,
    error: str = "",
    preview: Preview | None = None,
    asked: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    text, version = await _current_text(admin)
    try:
        dry_run, rows, tiers = rule_rows(text)
    except ConfigError as exc:  # a stored policy always validated; this is belt and braces
        dry_run, rows, tiers, error = False, [], [], error or str(exc)
    return render(
        request,
        "policy.html",
        session=session,
        text=draft if draft is not None else text,
        version=version,
        dry_run=dry_run,
        rows=rows,
        tiers=tiers,
        human_cap=admin.runtime.config.gate.human_cap(),
        human_clues=admin.runtime.config.gate.human_max_clues,
        error=error,
        notice=notice_of(request, session),
        preview=preview,
        asked=asked or {},
        history=await policy_history(admin.sessionmaker, limit=20),
        actions=await recent_actions(admin.engine, limit=30),
        status=status,
    )


@page
async def policy_page(request: Request, admin: Admin, session: Session) -> Response:
    return await _page(request, admin, session)


async def _save(admin: Admin, session: Session, text: str, note: str) -> int:
    gatekeeper = admin.runtime.gatekeeper
    stored = await save_policy(
        admin.sessionmaker, text, session.user, note, check=gatekeeper.check_rules
    )
    await record_action(admin.engine, session.user, "policy-save", f"v{stored.version}", note)
    return stored.version


@action
async def policy_save(request: Request, admin: Admin, session: Session, form: FormData) -> Response:
    text = str(form.get("text", "")).replace("\r\n", "\n")
    note = str(form.get("note", ""))[:500]
    try:
        version = await _save(admin, session, text, note)
    except ConfigError as exc:
        return await _page(request, admin, session, draft=text, error=str(exc), status=400)
    return back(
        request,
        session,
        "/policy",
        notice=f"Saved version {version}; replicas apply it within seconds.",
    )


@action
async def policy_price(
    request: Request, admin: Admin, session: Session, form: FormData
) -> Response:
    rule = str(form.get("rule", ""))
    text, _ = await _current_text(admin)
    try:
        price = int(str(form.get("price", "")).strip())
        edited = set_rule_price(text, rule, price)
        version = await _save(admin, session, edited, f"price of {rule} set to {price}")
    except ValueError:
        return await _page(
            request,
            admin,
            session,
            error=f"rule {rule!r}: price must be a whole number",
            status=400,
        )
    except ConfigError as exc:
        return await _page(request, admin, session, error=str(exc), status=400)
    return back(request, session, "/policy", f"{rule}: price {price} (version {version}).")


@action
async def policy_dry_run(
    request: Request, admin: Admin, session: Session, form: FormData
) -> Response:
    on = form.get("on") == "1"
    rule = str(form.get("rule", "")) or None
    text, _ = await _current_text(admin)
    what = f"rule {rule}" if rule else "the whole policy"
    try:
        edited = set_dry_run(text, on, rule)
        version = await _save(admin, session, edited, f"dry run {'on' if on else 'off'} for {what}")
    except ConfigError as exc:
        return await _page(request, admin, session, error=str(exc), status=400)
    state = "on" if on else "off"
    return back(request, session, "/policy", f"Dry run {state} for {what} (version {version}).")


def _visitor(form: FormData) -> tuple[Visitor, dict[str, str]]:
    asked = {
        name: str(form.get(name, "")).strip()[:500]
        for name in ("path", "method", "host", "address", "identity", "user_agent", "human")
    }
    path = asked["path"] or "/"
    if not path.startswith("/"):
        path = "/" + path
    headers = {"user-agent": asked["user_agent"]} if asked["user_agent"] else {}
    visitor = Visitor(
        path=path,
        peer=asked["address"] or "203.0.113.7",
        method=(asked["method"] or "GET").upper(),
        host=asked["host"],
        headers=headers,
        human=asked["human"] == "1",
        identity=asked["identity"] or None,
    )
    return visitor, asked


async def preview_for(admin: Admin, text: str, visitor: Visitor) -> Preview:
    """What the gate would answer ``visitor`` under policy ``text``, with no side effects."""
    gatekeeper: Gatekeeper = copy.copy(admin.runtime.gatekeeper)
    gatekeeper.rules = parse_policy(text, source="preview")  # the copy only: nothing is applied
    return await gatekeeper.preview(visitor)


@action
async def policy_preview(
    request: Request, admin: Admin, session: Session, form: FormData
) -> Response:
    visitor, asked = _visitor(form)
    draft = form.get("text")
    text = str(draft).replace("\r\n", "\n") if draft else (await _current_text(admin))[0]
    try:
        preview = await preview_for(admin, text, visitor)
    except ConfigError as exc:
        return await _page(request, admin, session, error=str(exc), asked=asked, status=400)
    return await _page(
        request,
        admin,
        session,
        preview=preview,
        asked=asked,
        draft=str(draft).replace("\r\n", "\n") if draft else None,
    )
