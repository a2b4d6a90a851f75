"""Deployment settings, read from ``GATE_*`` environment variables with embedded defaults.

Every setting has a default that works on a laptop with nothing installed: a memory store, a
SQLite file and a signing key created on first start under ``GATE_STATE_DIR``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gate.errors import ConfigError
from gate.gatekeeper import GateSettings
from gate.identity import parse_networks
from gate.paths import PathSemantics
from gate.pricing import RateCurve
from gate.puzzle import TIERS

# name -> (default, description); the README's configuration table is generated from this.
SETTINGS: dict[str, tuple[str, str]] = {
    "GATE_STATE_DIR": (".gate", "Directory for the embedded defaults (SQLite file, signing key)."),
    "GATE_STORE_URL": (
        "memory://",
        "Hot-state store: memory:// (one process) or redis://host:port/db.",
    ),
    "GATE_DATABASE_URL": (
        "",
        "Clue bank database; empty means sqlite in GATE_STATE_DIR. "
        "postgresql://user@host/db for production.",
    ),
    "GATE_SIGNING_KEY_FILE": (
        "",
        "Ed25519 PEM key that signs passes; empty means "
        "GATE_STATE_DIR/signing-key.pem, created on first start.",
    ),
    "GATE_VERIFY_KEY_FILES": ("", "Comma-separated PEM keys that still verify (rotation overlap)."),
    "GATE_SIGNING_KEY": (
        "",
        "The signing key itself (PEM, or base64 of the 32-byte Ed25519 seed) for secret stores "
        "that inject variables; used instead of GATE_SIGNING_KEY_FILE (set only one).",
    ),
    "GATE_VERIFY_KEYS": (
        "",
        "Comma-separated keys that also verify: public keys as `gate keys public` prints them, "
        "or signing keys in PEM (a rotation's overlap).",
    ),
    "GATE_DB_AUTO_UPGRADE": (
        "sqlite",
        "Whether services migrate the SQL schema on start: sqlite (only a SQLite database), "
        "always or never; otherwise an old schema stops them until `gate db upgrade` runs.",
    ),
    "GATE_TRUSTED_PROXIES": ("", "Comma-separated CIDRs whose X-Forwarded-For is believed."),
    "GATE_PATH_SEMANTICS": (
        "strict",
        "How the upstream reads paths (docs/policy.md): strict, tomcat, iis, or comma-separated "
        "foldings matrix-parameters, trailing-dots, case-insensitive, unicode-compatibility.",
    ),
    "GATE_POLICY_FILE": (
        "",
        "YAML policy (docs/policy.md); replaces built-in rules, reloaded on change and on SIGHUP.",
    ),
    "GATE_POLICY_POLL": (
        "2",
        "Seconds between a replica's checks for a newer stored policy version (SQL).",
    ),
    "GATE_OVERRIDES_POLL": (
        "5",
        "Seconds between a replica's checks for changed identity overrides (tier, block).",
    ),
    "GATE_BOT_KEYS_DIR": (
        "",
        "Directory of JWK Set files (*.json) with the Ed25519 keys of known bots "
        "(Web Bot Auth); empty: no bot is verified.",
    ),
    "GATE_LLM_BACKENDS": (
        "",
        "YAML/JSON file listing the OpenAI-compatible LLM backends of the puzzle "
        "factory (name, base_url, model, max_in_flight, capabilities).",
    ),
    "GATE_LLM_TENANTS": (
        "",
        "YAML file of the LLM pool's fair scheduling: tenant weights, token weights, batch floor, "
        "headroom, policy (fair or fifo); empty: every tenant weighs 1.",
    ),
    "GATE_RATE_WINDOW": ("60", "Seconds over which a client's request rate is measured."),
    "GATE_RATE_CURVE": (
        "0:1,30:1,120:2,600:8,3000:32",
        "Price multiplier by requests per window, 'rate:multiplier,...'.",
    ),
    "GATE_MAX_PRICE": ("50000", "Above this price (solver tokens) clients get 429 + Retry-After."),
    "GATE_AGENT_TIER": ("2", "Clue tier (1 easy - 3 hard) for programs."),
    "GATE_HUMAN_TIER": ("1", "Clue tier for browsers (people)."),
    "GATE_CHALLENGE_TTL": ("300", "Seconds a challenge stays solvable (at least 10)."),
    "GATE_MAX_ATTEMPTS": ("5", "Wrong answers allowed per challenge."),
    "GATE_SERVE_LIMIT": (
        "1",
        "Times one clue text may be served before it is withdrawn (1: never twice, so no "
        "client can learn a clue's letter by seeing it again).",
    ),
    "GATE_BANK_LOW_WATER": (
        "1000",
        "Fresh clues (under the serve limit) per tier below which the dashboard warns.",
    ),
    "GATE_WHOLE_GATES": (
        "false",
        "true: serve gates imported with `gate puzzles import --kind gates --whole` as "
        "published (their solutions are public: for benchmarks, not protection).",
    ),
    "GATE_BANK_DRY": (
        "reuse",
        "When no clue under the serve limit can compose a puzzle: reuse (serve clues already "
        "served, keeping the site usable; logged and counted) or refuse (503).",
    ),
    "GATE_DECODE_RATE": (
        "250",
        "Tokens/s of a fast model: a rule without solve_floor waits its puzzle's price at this "
        "rate before an answer is judged (the solve-time floor).",
    ),
    "GATE_HUMAN_MAX_CLUES": (
        "10",
        "Most clues a person sees in one challenge (the HTML form); a higher price is capped "
        "there, and the dashboard warns about rules it caps.",
    ),
    "GATE_HUMAN_FLOOR": (
        "5",
        "Solve-time floor in seconds for people (the HTML form), unless the rule sets solve_floor.",
    ),
    "GATE_DECISION_LOG": (
        "",
        "Opt-in decision log: one JSON line per decision (time, identity, rule, action, outcome, "
        "price, latency, request id; never an answer or a pass). '-' writes to stderr, a path "
        "appends to that file; empty: off.",
    ),
    "GATE_ADMIN_SESSION_TTL": ("28800", "Seconds an admin dashboard login lasts."),
    "GATE_ADMIN_LOCKOUT_FAILURES": (
        "5",
        "Failed admin logins (per user name, and per client address) before logins are refused.",
    ),
    "GATE_ADMIN_LOCKOUT_MINUTES": (
        "15",
        "Minutes failed admin logins are counted over, and how long a lockout lasts.",
    ),
    "GATE_ADMIN_SECURE_COOKIE": (
        "auto",
        "Secure flag on admin cookies: auto (when served over https), true or false.",
    ),
    "GATE_ADMIN_SAMPLE_INTERVAL": (
        "60",
        "Seconds between the dashboard's ledger snapshots into SQL (the charts' history).",
    ),
}


def _int(env: Mapping[str, str], name: str, *, minimum: int = 0) -> int:
    raw = env.get(name) or SETTINGS[name][0]
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _number(env: Mapping[str, str], name: str, low: float, high: float, what: str) -> float:
    """A float setting in ``[low, high]`` (nan refused too); the error names the variable."""
    raw = env.get(name) or SETTINGS[name][0]
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from exc
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {what} between {low:g} and {high:g}, got {raw}")
    return value


def _seconds(env: Mapping[str, str], name: str) -> float:
    return _number(env, name, 0.05, 3_600, "a number of seconds")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or SETTINGS[name][0]
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


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
        env = os.environ if env is None else env
        unknown = sorted(
            name
            for name in env
            if name.startswith("GATE_")
            and name not in SETTINGS
            and not name.startswith("GATE_TEST_")
        )
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        tiers = {
            name: _int(env, name, minimum=1) for name in ("GATE_AGENT_TIER", "GATE_HUMAN_TIER")
        }
        for name, tier in tiers.items():
            if tier not in TIERS:
                raise ConfigError(f"{name} must be one of {TIERS}")
        gate = GateSettings(
            rate_window=float(_int(env, "GATE_RATE_WINDOW", minimum=1)),
            curve=RateCurve.parse(env.get("GATE_RATE_CURVE") or SETTINGS["GATE_RATE_CURVE"][0]),
            max_price=_int(env, "GATE_MAX_PRICE", minimum=1),
            agent_tier=tiers["GATE_AGENT_TIER"],
            human_tier=tiers["GATE_HUMAN_TIER"],
            challenge_ttl=_int(env, "GATE_CHALLENGE_TTL", minimum=10),
            max_attempts=_int(env, "GATE_MAX_ATTEMPTS", minimum=1),
            # Unset: None, the defaults of gate.challenges (which SETTINGS documents).
            decode_rate=_number(env, "GATE_DECODE_RATE", 1e-3, 1e12, "a number of tokens/s")
            if env.get("GATE_DECODE_RATE")
            else None,
            human_floor=_number(env, "GATE_HUMAN_FLOOR", 0, 3_600, "a number of seconds")
            if env.get("GATE_HUMAN_FLOOR")
            else None,
            human_max_clues=_int(env, "GATE_HUMAN_MAX_CLUES", minimum=4),
            trusted_proxies=parse_networks(
                item for item in env.get("GATE_TRUSTED_PROXIES", "").split(",") if item.strip()
            ),
            paths=PathSemantics.parse(env.get("GATE_PATH_SEMANTICS") or "strict"),
        )
        signing = env.get("GATE_SIGNING_KEY_FILE", "")
        if signing and env.get("GATE_SIGNING_KEY"):
            raise ConfigError("set GATE_SIGNING_KEY or GATE_SIGNING_KEY_FILE, not both")
        auto_upgrade = env.get("GATE_DB_AUTO_UPGRADE") or SETTINGS["GATE_DB_AUTO_UPGRADE"][0]
        if auto_upgrade not in ("sqlite", "always", "never"):
            raise ConfigError(
                f"GATE_DB_AUTO_UPGRADE must be sqlite, always or never, got {auto_upgrade!r}"
            )
        config = cls(
            state_dir=Path(env.get("GATE_STATE_DIR") or ".gate"),
            store_url=env.get("GATE_STORE_URL") or "memory://",
            database_url=env.get("GATE_DATABASE_URL", ""),
            signing_key_file=Path(signing) if signing else None,
            verify_key_files=tuple(
                Path(item.strip())
                for item in env.get("GATE_VERIFY_KEY_FILES", "").split(",")
                if item.strip()
            ),
            signing_key=env.get("GATE_SIGNING_KEY", ""),
            verify_keys=tuple(
                item.strip() for item in env.get("GATE_VERIFY_KEYS", "").split(",") if item.strip()
            ),
            db_auto_upgrade=auto_upgrade,
            serve_limit=_int(env, "GATE_SERVE_LIMIT", minimum=1),
            bank_dry=_choice(env, "GATE_BANK_DRY", ("reuse", "refuse")),
            bank_low_water=_int(env, "GATE_BANK_LOW_WATER"),
            whole_gates=_choice(env, "GATE_WHOLE_GATES", ("true", "false")) == "true",
            policy_file=Path(env["GATE_POLICY_FILE"]) if env.get("GATE_POLICY_FILE") else None,
            bot_keys_dir=Path(env["GATE_BOT_KEYS_DIR"]) if env.get("GATE_BOT_KEYS_DIR") else None,
            policy_poll=_seconds(env, "GATE_POLICY_POLL"),
            overrides_poll=_seconds(env, "GATE_OVERRIDES_POLL"),
            decision_log=env.get("GATE_DECISION_LOG", "").strip(),
            gate=gate,
        )
        return _replace(config, overrides)


def _replace(config: GateConfig, overrides: Mapping[str, object]) -> GateConfig:
    from dataclasses import replace

    clean = {name: value for name, value in overrides.items() if value is not None}
    return replace(config, **clean) if clean else config
