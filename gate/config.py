"""Deployment configuration: the ``GATE_*`` settings (``gate.settings``) as the typed parts the gate
runs on.

Every setting has a default that works on a laptop with nothing installed: a memory store, a
SQLite file and a signing key created on first start under ``GATE_STATE_DIR``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.errors import ConfigError
from gate.gatekeeper import GateSettings
from gate.identity import parse_networks
from gate.paths import PathSemantics
from gate.pricing import RateCurve
from gate.settings import Settings, documented

# name -> (default as shown, description): every GATE_* variable, from gate.settings.Settings.
SETTINGS: dict[str, tuple[str, str]] = documented()


@dataclass(frozen=True)
class GateConfig:
    state_dir: Path = Path(".gate")
    store_url: str = "memory://"
    database_url: str = ""
    signing_key_file: Path | None = None
    verify_key_files: tuple[Path, ...] = ()
    signing_key: str = field(default="", repr=False)  # a secret: never in a repr or a log line
    verify_keys: tuple[str, ...] = ()
    db_auto_upgrade: str = "sqlite"
    serve_limit: int = 1
    bank_dry: str = "reuse"  # or "refuse"
    bank_low_water: int = 1_000
    whole_gates: bool = False
    policy_file: Path | None = None
    bot_keys_dir: Path | None = None
    policy_poll: float = 2.0  # seconds between checks for a newer stored policy
    overrides_poll: float = 5.0  # seconds between checks for changed identity overrides
    decision_log: str = ""  # "-": stderr; a path: append there; "": no decision log
    gate: GateSettings = field(default_factory=GateSettings)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.state_dir / 'gate.db'}"

    @property
    def resolved_signing_key_file(self) -> Path:
        return self.signing_key_file or self.state_dir / "signing-key.pem"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> GateConfig:
        """The ``GATE_*`` settings of ``env`` (``os.environ`` when None), with ``overrides``
        (keyword arguments that are not None) over them."""
        return _replace(cls.from_settings(Settings.load(env)), overrides)

    @classmethod
    def from_settings(cls, settings: Settings) -> GateConfig:
        if settings.signing_key_file and settings.signing_key:
            raise ConfigError("set GATE_SIGNING_KEY or GATE_SIGNING_KEY_FILE, not both")
        gate = GateSettings(
            rate_window=float(settings.rate_window),
            curve=RateCurve.parse(settings.rate_curve),
            max_price=settings.max_price,
            agent_tier=settings.agent_tier,
            human_tier=settings.human_tier,
            challenge_ttl=settings.challenge_ttl,
            max_attempts=settings.max_attempts,
            # Unset: None, the defaults of gate.challenges (which the settings document).
            decode_rate=settings.decode_rate,
            human_floor=settings.human_floor,
            human_max_clues=settings.human_max_clues,
            trusted_proxies=parse_networks(_items(settings.trusted_proxies)),
            paths=PathSemantics.parse(settings.path_semantics),
            max_headers=settings.max_headers,
            max_header_bytes=settings.max_header_bytes,
            pass_lease=settings.pass_lease,
            edge_cache=settings.edge_cache,
        )
        return cls(
            state_dir=settings.state_dir,
            store_url=settings.store_url,
            database_url=settings.database_url,
            signing_key_file=Path(settings.signing_key_file) if settings.signing_key_file else None,
            verify_key_files=tuple(Path(item) for item in _items(settings.verify_key_files)),
            signing_key=settings.signing_key,
            verify_keys=tuple(_items(settings.verify_keys)),
            db_auto_upgrade=settings.db_auto_upgrade,
            serve_limit=settings.serve_limit,
            bank_dry=settings.bank_dry,
            bank_low_water=settings.bank_low_water,
            whole_gates=settings.whole_gates == "true",
            policy_file=Path(settings.policy_file) if settings.policy_file else None,
            bot_keys_dir=Path(settings.bot_keys_dir) if settings.bot_keys_dir else None,
            policy_poll=settings.policy_poll,
            overrides_poll=settings.overrides_poll,
            decision_log=settings.decision_log.strip(),
            gate=gate,
        )


def _items(text: str) -> list[str]:
    """The items of a comma-separated setting, trimmed, empty ones left out."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _replace(config: GateConfig, overrides: Mapping[str, object]) -> GateConfig:
    from dataclasses import replace

    clean: dict[str, Any] = {name: value for name, value in overrides.items() if value is not None}
    return replace(config, **clean) if clean else config
