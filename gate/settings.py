"""Every ``GATE_*`` environment variable, in one place: its type, default, limits and docs.

``Settings`` is a pydantic-settings model: the field ``max_attempts`` is ``GATE_MAX_ATTEMPTS``.
``Settings.load(env)`` reads a mapping (``os.environ`` by default); an empty value means the
default, an unknown ``GATE_*`` name is refused (a typo must not silently run on defaults), and a
bad value raises ``ConfigError`` naming the variable.  ``gate.config`` turns the settings into the
typed parts the gate runs on; the README's configuration table lists exactly these names
(``tests/test_config.py`` checks it), from ``documented()``.

Why this module is over 400 lines: it is the one list of settings the issue asks for (one field per
variable, with its type, default, limits and description); split by topic, a new setting would
again have several places to go, and ``documented()`` several modules to gather from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from gate.errors import ConfigError
from gate.identity import parse_networks
from gate.paths import PathSemantics
from gate.pricing import RateCurve
from gate.puzzle import TIERS

PREFIX = "GATE_"
TEST_PREFIX = "GATE_TEST_"  # the test suite's own variables, never settings
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("gate_settings_environ", default=None)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, case_sensitive=False, env_ignore_empty=True, frozen=True
    )

    state_dir: Path = Field(
        Path(".gate"), description="Directory for the embedded defaults (SQLite file, signing key)."
    )
    store_url: str = Field(
        "memory://",
        description="Hot-state store: memory:// (one process), redis://host:port/db, or "
        "redis+cluster://host:port (any node of a Redis Cluster).",
    )
    database_url: str = Field(
        "",
        description="Clue bank database; empty means sqlite in GATE_STATE_DIR. "
        "postgresql://user@host/db for production.",
    )
    signing_key_file: str = Field(
        "",
        description="Ed25519 PEM key that signs passes; empty means "
        "GATE_STATE_DIR/signing-key.pem, created on first start.",
    )
    verify_key_files: str = Field(
        "", description="Comma-separated PEM keys that still verify (rotation overlap)."
    )
    signing_key: str = Field(
        "",
        repr=False,  # a secret: never in a repr or a log line
        description="The signing key itself (PEM, or base64 of the 32-byte Ed25519 seed) for secret "
        "stores that inject variables; used instead of GATE_SIGNING_KEY_FILE (set only one).",
    )
    verify_keys: str = Field(
        "",
        description="Comma-separated keys that also verify: public keys as `gate keys public` prints "
        "them, or signing keys in PEM (a rotation's overlap).",
    )
    db_auto_upgrade: Literal["sqlite", "always", "never"] = Field(
        "sqlite",
        description="Whether services migrate the SQL schema on start: sqlite (only a SQLite database), "
        "always or never; otherwise an old schema stops them until `gate db upgrade` runs.",
    )
    trusted_proxies: str = Field(
        "", description="Comma-separated CIDRs whose X-Forwarded-For is believed."
    )
    path_semantics: str = Field(
        "strict",
        description="How the upstream reads paths (docs/policy.md): strict, tomcat, iis, or "
        "comma-separated foldings matrix-parameters, trailing-dots, case-insensitive, "
        "unicode-compatibility.",
    )
    max_headers: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Most request header fields the gate reads; a request with more gets 431 "
        "before any decision (browsers send under 30).",
    )
    max_header_bytes: int = Field(
        32_768,
        ge=256,
        le=1_048_576,
        description="Most bytes of request header names and values together; a request with more gets "
        "431 before any decision (browsers send a few KiB; cookies up to about 16 KiB).",
    )
    pass_lease: int = Field(
        1,
        ge=1,
        le=1_000,
        description="Uses of a pass a process charges to the store at once and then serves without "
        "a round trip for up to 1 s (1: off). Never over-spends; a revocation or reset can take 1 s "
        "to apply, and a stopped process loses at most N-1 leased uses (docs/deploy.md).",
    )
    edge_cache: int = Field(
        0,
        ge=0,
        le=60,
        description="Seconds an edge proxy may keep `gate authz`'s yes to a paying client and answer "
        "repeats of that request from its cache without asking (0: off; deploy/nginx honours it). "
        "Those repeats are not metered: a pass serves its budget in decisions, and each decision "
        "for this long (docs/deploy.md).",
    )
    policy_file: str = Field(
        "",
        description="YAML policy (docs/policy.md); replaces built-in rules, reloaded on change and on "
        "SIGHUP.",
    )
    policy_poll: float = Field(
        2.0,
        ge=0.05,
        le=3_600,
        description="Seconds between a replica's checks for a newer stored policy version (SQL).",
    )
    overrides_poll: float = Field(
        5.0,
        ge=0.05,
        le=3_600,
        description="Seconds between a replica's checks for changed identity overrides (tier, block).",
    )
    bot_keys_dir: str = Field(
        "",
        description="Directory of JWK Set files (*.json) with the Ed25519 keys of known bots "
        "(Web Bot Auth); empty: no bot is verified.",
    )
    llm_backends: str = Field(
        "",
        description="YAML/JSON file listing the OpenAI-compatible LLM backends of the puzzle "
        "factory (name, base_url, model, max_in_flight, capabilities).",
    )
    llm_tenants: str = Field(
        "",
        description="YAML file of the LLM pool's fair scheduling: tenant weights, token weights, batch "
        "floor, headroom, policy (fair or fifo); empty: every tenant weighs 1.",
    )
    rate_window: int = Field(
        60, ge=1, description="Seconds over which a client's request rate is measured."
    )
    rate_curve: str = Field(
        "0:1,30:1,120:2,600:8,3000:32",
        description="Price multiplier by requests per window, 'rate:multiplier,...'.",
    )
    max_price: int = Field(
        50_000,
        ge=1,
        description="Above this price (solver tokens) clients get 429 + Retry-After.",
    )
    agent_tier: int = Field(2, description="Clue tier (1 easy - 3 hard) for programs.")
    human_tier: int = Field(1, description="Clue tier for browsers (people).")
    challenge_ttl: int = Field(
        300, ge=10, description="Seconds a challenge stays solvable (at least 10)."
    )
    max_attempts: int = Field(5, ge=1, description="Wrong answers allowed per challenge.")
    serve_limit: int = Field(
        1,
        ge=1,
        description="Times one clue text may be served before it is withdrawn (1: never twice, so no "
        "client can learn a clue's letter by seeing it again).",
    )
    bank_low_water: int = Field(
        1_000,
        ge=0,
        description="Fresh clues (under the serve limit) per tier below which the dashboard warns.",
    )
    whole_gates: Literal["true", "false"] = Field(
        "false",
        description="true: serve gates imported with `gate puzzles import --kind gates --whole` as "
        "published (their solutions are public: for benchmarks, not protection).",
    )
    bank_dry: Literal["reuse", "refuse"] = Field(
        "reuse",
        description="When no clue under the serve limit can compose a puzzle: reuse (serve clues already "
        "served, keeping the site usable; logged and counted) or refuse (503).",
    )
    decode_rate: float | None = Field(
        None,
        description="Tokens/s of a fast model: a rule without solve_floor waits its puzzle's price at "
        "this rate before an answer is judged (the solve-time floor).",
        json_schema_extra={"shown": "250"},
    )
    human_max_clues: int = Field(
        10,
        ge=4,
        description="Most clues a person sees in one challenge (the HTML form); a higher price is "
        "capped there, and the dashboard warns about rules it caps.",
    )
    human_floor: float | None = Field(
        None,
        description="Solve-time floor in seconds for people (the HTML form), unless the rule sets "
        "solve_floor.",
        json_schema_extra={"shown": "5"},
    )
    decision_log: str = Field(
        "",
        description="Opt-in decision log: one JSON line per decision (time, identity, rule, action, "
        "outcome, price, latency, request id; never an answer or a pass). '-' writes to "
        "stderr, a path appends to that file; empty: off.",
    )
    admin_session_ttl: float = Field(
        28_800, ge=60, description="Seconds an admin dashboard login lasts."
    )
    admin_lockout_failures: int = Field(
        5,
        ge=1,
        description="Failed admin logins (per user name, and per client address) before logins are "
        "refused.",
    )
    admin_lockout_minutes: float = Field(
        15,
        ge=1 / 60,
        description="Minutes failed admin logins are counted over, and how long a lockout lasts.",
    )
    admin_secure_cookie: Literal["auto", "true", "false"] = Field(
        "auto",
        description="Secure flag on admin cookies: auto (when served over https), true or false.",
    )
    admin_sample_interval: float = Field(
        60,
        ge=0.05,
        description="Seconds between the dashboard's ledger snapshots into SQL (the charts' history).",
    )

    # -- values with a grammar of their own: checked here so the error names the variable ------

    @field_validator("agent_tier", "human_tier")
    @classmethod
    def _tier(cls, value: int) -> int:
        if value not in TIERS:
            raise ValueError(f"must be one of {TIERS}")
        return value

    @field_validator("decode_rate")
    @classmethod
    def _decode_rate(cls, value: float | None) -> float | None:
        return _between(value, 1e-3, 1e12, "a number of tokens/s")

    @field_validator("human_floor")
    @classmethod
    def _human_floor(cls, value: float | None) -> float | None:
        return _between(value, 0, 3_600, "a number of seconds")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        _checked(parse_networks, [item for item in value.split(",") if item.strip()])
        return value

    @field_validator("rate_curve")
    @classmethod
    def _curve(cls, value: str) -> str:
        _checked(RateCurve.parse, value)
        return value

    @field_validator("path_semantics")
    @classmethod
    def _paths(cls, value: str) -> str:
        _checked(PathSemantics.parse, value)
        return value

    @field_validator("admin_secure_cookie", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        source = env_settings if environ is None else _Environment(settings_cls, environ)
        return (init_settings, source)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``env`` (``os.environ`` when None); ``ConfigError`` names what is
        wrong."""
        environ = os.environ if env is None else env
        known = {variable(name) for name in cls.model_fields}
        unknown = sorted(
            name
            for name in environ
            if name.upper().startswith(PREFIX)
            and name.upper() not in known
            and not name.upper().startswith(TEST_PREFIX)
        )
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        token = _ENVIRON.set(environ)
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError("; ".join(_explain(error) for error in exc.errors())) from None
        finally:
            _ENVIRON.reset(token)


class _Environment(EnvSettingsSource):
    """The environment source over a given mapping instead of ``os.environ`` (tests, tools)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = {name.lower(): value for name, value in environ.items()}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._given


def variable(field_name: str) -> str:
    return PREFIX + field_name.upper()


def setting(field_name: str, env: Mapping[str, str] | None = None) -> Any:
    """One setting of ``env`` (``os.environ`` when None), read as ``Settings`` declares it: its
    variable, default (also for an empty value), type and bounds; ``ConfigError`` names it.

    For a library call that needs one value (``puzzles.db.resolve_url(None)``, the LLM pool's
    files, the factory's store): loading every setting there would refuse a run over an unrelated
    variable (a bench's ``GATE_BENCH_*``, another command's bad value) that never reached it.
    Field validators spanning several settings run only in ``Settings.load``.
    """
    info = Settings.model_fields[field_name]
    raw = (os.environ if env is None else env).get(variable(field_name), "")
    if raw == "":
        return info.get_default(call_default_factory=True)
    # The field's own type and bounds (FieldInfo as Annotated metadata), not the whole model:
    # validating a Settings would read every source again.
    declared: Any = Annotated[info.annotation, info]
    try:
        return TypeAdapter(declared).validate_python(raw)
    except ValidationError as exc:
        errors = [{**error, "loc": (field_name,)} for error in exc.errors()]
        raise ConfigError("; ".join(_explain(error) for error in errors)) from None


def documented() -> dict[str, tuple[str, str]]:
    """Variable -> (default as shown, description), in declaration order (README, tests)."""
    table = {}
    for name, info in Settings.model_fields.items():
        table[variable(name)] = (_shown(info), info.description or "")
    return table


def _shown(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("shown"), str):
        return str(extra["shown"])
    default = info.default
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return "" if default is None else str(default)


def _between(value: float | None, low: float, high: float, what: str) -> float | None:
    if value is not None and not low <= value <= high:  # nan fails both comparisons
        raise ValueError(f"must be {what} between {low:g} and {high:g}")
    return value


def _checked(parse: Any, value: Any) -> None:
    try:
        parse(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


_PHRASES = {
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
}


def _explain(error: Any) -> str:
    """One sentence per bad value, naming the variable and what was given."""
    name = variable(str(error["loc"][0])) if error.get("loc") else "a GATE_* setting"
    given = error.get("input")
    kind, context = error.get("type", ""), error.get("ctx") or {}
    if kind in _PHRASES:
        phrase = _PHRASES[kind]
    elif kind in ("greater_than_equal", "greater_than"):
        phrase = f"must be at least {context.get('ge', context.get('gt'))}"
    elif kind in ("less_than_equal", "less_than"):
        phrase = f"must be at most {context.get('le', context.get('lt'))}"
    elif kind == "literal_error":
        phrase = f"must be one of {context.get('expected', '')}"
    elif kind == "value_error":
        phrase = str(context.get("error", error.get("msg", "")))
    else:
        phrase = f"is not valid ({error.get('msg', kind)})"
    phrase = phrase.removeprefix(f"{name}: ")
    if not phrase.startswith("must"):  # a parser's own sentence already quotes the value
        return f"{name}: {phrase}"
    return f"{name} {phrase}, got {given!r}"
