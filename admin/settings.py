"""The dashboard's own settings (``GATE_ADMIN_*``), read like every other gate setting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gate.settings import Settings


@dataclass(frozen=True)
class AdminSettings:
    session_ttl: float = 8 * 3600.0
    lockout_failures: int = 5
    lockout_seconds: float = 15 * 60.0
    secure_cookie: bool | None = None  # None: when the request came over https
    sample_interval: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AdminSettings:
        settings = Settings.load(env)
        secure = settings.admin_secure_cookie
        return cls(
            session_ttl=settings.admin_session_ttl,
            lockout_failures=settings.admin_lockout_failures,
            lockout_seconds=settings.admin_lockout_minutes * 60.0,
            secure_cookie=None if secure == "auto" else secure == "true",
            sample_interval=settings.admin_sample_interval,
        )
