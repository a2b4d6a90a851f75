"""Server-side sessions in the hot store (memory or Redis), so every admin replica shares them.

The cookie carries only a random id; the record (user, CSRF token) never leaves the server.  A
pre-session record does the same for the login form, so even logging in needs a token the page
handed out (no login CSRF).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

from gate.store import Delete, Get, Put, Store

SESSION_COOKIE = "rg_admin"
LOGIN_COOKIE = "rg_admin_login"
LOGIN_TTL = 900.0
_ID = re.compile(r"[A-Za-z0-9_-]{32,64}")


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    user: str  # "" for a login form's pre-session
    csrf: str


def _key(session_id: str) -> str:
    return f"admin:session:{session_id}"


class SessionStore:
    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl

    async def create(self, user: str) -> Session:
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32))
        await self._put(session, self.ttl if user else LOGIN_TTL)
        return session

    async def _put(self, session: Session, ttl: float) -> None:
        body = json.dumps({"user": session.user, "csrf": session.csrf}).encode()
        await self.store.execute([Put(_key(session.id), body, ttl)])

    async def load(self, session_id: str | None) -> Session | None:
        if not session_id or not _ID.fullmatch(session_id):
            return None
        (raw,) = await self.store.execute([Get(_key(session_id))])
        if raw is None:
            return None
        record = json.loads(raw)
        return Session(session_id, str(record["user"]), str(record["csrf"]))

    async def end(self, session_id: str) -> None:
        if _ID.fullmatch(session_id):
            await self.store.execute([Delete(_key(session_id))])
