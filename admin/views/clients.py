"""Clients: every paying identity's ledger, and the operator's levers on it (revoke its passes,
assign a tier, block).  Levers are stored through ``operator_state.overrides`` (audited there and here)
and reach every replica on its next refresh; revocation is immediate (it lives in the store)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from admin.ledgers import client_ledgers, fastest, read_ledgers
from admin.sessions import Session
from admin.web import Admin, action, back, notice_of, page, refuse, render
from operator_state.audit import record_action
from operator_state.overrides import clear_override, list_overrides, revoke_passes, set_override

MAX_IDENTITY = 300


def _identity(form: FormData) -> str | None:
    identity = str(form.get("identity", "")).strip()
    return identity if 0 < len(identity) <= MAX_IDENTITY else None


@page
async def clients_page(request: Request, admin: Admin, session: Session) -> Response:
    overrides = {item.identity: item for item in await list_overrides(admin.sessionmaker)}
    entries = await client_ledgers(admin.runtime.store, extra=sorted(overrides))
    wanted = request.query_params.get("identity", "").strip()[:MAX_IDENTITY]
    if wanted and all(entry.identity != wanted for entry in entries):
        entries = [*(await read_ledgers(admin.runtime.store, [wanted])), *entries]
    if wanted:
        entries = [entry for entry in entries if wanted in entry.identity]
    return render(
        request,
        "clients.html",
        session=session,
        entries=entries[:500],
        fastest=fastest(entries),
        shown=min(len(entries), 500),
        total=len(entries),
        overrides=overrides,
        tiers=sorted(admin.runtime.gatekeeper.rules.tiers),
        wanted=wanted,
        notice=notice_of(request, session),
    )


@action
async def clients_revoke(
    request: Request, admin: Admin, session: Session, form: FormData
) -> Response:
    identity = _identity(form)
    if identity is None:
        return refuse(400, "an identity is required")
    await revoke_passes(admin.sessionmaker, admin.runtime.store, identity, actor=session.user)
    await record_action(admin.engine, session.user, "revoke-passes", identity)
    return back(request, session, "/clients", f"Passes of {identity} revoked.")


async def _override(
    admin: Admin,
    session: Session,
    identity: str,
    *,
    tier: str | None = None,
    blocked: bool | None = None,
    reason: str = "",
) -> None:
    current = {item.identity: item for item in await list_overrides(admin.sessionmaker)}.get(
        identity
    )
    new_tier = tier if tier is not None else (current.tier if current else None)
    new_blocked = blocked if blocked is not None else (current.blocked if current else False)
    if not new_tier and not new_blocked:  # nothing left to override
        if current is not None:
            await clear_override(admin.sessionmaker, identity, session.user)
        return
    await set_override(
        admin.sessionmaker,
        identity,
        tier=new_tier or None,
        blocked=new_blocked,
        actor=session.user,
        reason=reason,
    )


@action
async def clients_tier(
    request: Request, admin: Admin, session: Session, form: FormData
) -> Response:
    identity = _identity(form)
    tier = str(form.get("tier", "")).strip()
    if identity is None:
        return refuse(400, "an identity is required")
    if tier and tier not in admin.runtime.gatekeeper.rules.tiers:
        return refuse(400, f"unknown tier {tier!r}: define it in the policy's tiers first")
    await _override(admin, session, identity, tier=tier)
    await record_action(admin.engine, session.user, "set-tier", identity, tier or "(none)")
    return back(request, session, "/clients", f"{identity}: tier {tier or '(none)'}.")


@action
async def clients_block(
    request: Request, admin: Admin, session: Session, form: FormData
) -> Response:
    identity = _identity(form)
    if identity is None:
        return refuse(400, "an identity is required")
    blocked = form.get("blocked") == "1"
    reason = str(form.get("reason", "")).strip()[:500]
    await _override(admin, session, identity, blocked=blocked, reason=reason)
    verb = "block" if blocked else "unblock"
    await record_action(admin.engine, session.user, verb, identity, reason)
    return back(request, session, "/clients", f"{identity} {verb}ed.")
