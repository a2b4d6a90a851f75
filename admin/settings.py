"""The dashboard's own settings (``GATE_ADMIN_*``), read like every other gate setting."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from gate.config import SETTINGS
from gate.errors import ConfigError


def _number(env: Mapping[str, str], name: str, minimum: float) -> float:
    raw = env.get(name) or SETTINGS[name][0]
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw}")
    return value


@dataclass(frozen=True)
class AdminSettings:
    session_ttl: float = 8 * 3600.0
    lockout_failures: int = 5
    lockout_seconds: float = 15 * 60.0
    secure_cookie: bool | None = None  # None: when the request came over https
    sample_interval: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AdminSettings:
        env = os.environ if env is None else env
        secure = (env.get("GATE_ADMIN_SECURE_COOKIE") or "auto").strip().lower()
        if secure not in ("auto", "true", "false"):
            raise ConfigError("GATE_ADMIN_SECURE_COOKIE must be auto, true or false")
        return cls(
            session_ttl=_number(env, "GATE_ADMIN_SESSION_TTL", 60),
            lockout_failures=int(_number(env, "GATE_ADMIN_LOCKOUT_FAILURES", 1)),
            lockout_seconds=_number(env, "GATE_ADMIN_LOCKOUT_MINUTES", 1 / 60) * 60.0,
            secure_cookie=None if secure == "auto" else secure == "true",
            sample_interval=_number(env, "GATE_ADMIN_SAMPLE_INTERVAL", 0.05),
        )
