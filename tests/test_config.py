from pathlib import Path

import pytest

from gate.config import SETTINGS, GateConfig
from gate.errors import ConfigError


def test_defaults_need_nothing_installed() -> None:
    config = GateConfig.from_env({})
    assert config.store_url == "memory://"
    assert config.resolved_database_url == "sqlite+aiosqlite:///.gate/gate.db"
    assert config.resolved_signing_key_file == Path(".gate/signing-key.pem")
    assert config.gate.agent_tier > config.gate.human_tier


def test_settings_are_read_from_the_environment() -> None:
    config = GateConfig.from_env(
        {
            "GATE_STORE_URL": "redis://127.0.0.1:6379/0",
            "GATE_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
            "GATE_RATE_CURVE": "0:1,10:5",
            "GATE_MAX_ATTEMPTS": "3",
        }
    )
    assert config.store_url.startswith("redis://")
    assert len(config.gate.trusted_proxies) == 2
    assert config.gate.curve.multiplier(10) == 5
    assert config.gate.max_attempts == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATE_MAX_ATTEMPTS", "many"),
        ("GATE_MAX_ATTEMPTS", "0"),
        ("GATE_AGENT_TIER", "9"),
        ("GATE_TRUSTED_PROXIES", "not-a-network"),
        ("GATE_RATE_CURVE", "fast"),
        ("GATE_SPELLING_MISTAKE", "1"),
    ],
)
def test_bad_settings_fail_at_start_up_with_the_setting_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name.split("_", 1)[1].split("_")[0].lower() + "|" + name):
        GateConfig.from_env({name: value})


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for name in SETTINGS:
        assert f"`{name}`" in readme, name


def test_one_setting_is_read_as_declared_without_loading_the_others() -> None:
    from gate.settings import setting

    # A library call that needs one value is not refused over an unrelated variable...
    unrelated = {"GATE_BENCH_REDIS_URL": "redis://x", "GATE_MAX_ATTEMPTS": "0"}
    assert setting("database_url", unrelated) == ""
    assert (
        setting("store_url", {**unrelated, "GATE_STORE_URL": ""}) == "memory://"
    )  # empty: default
    assert setting("llm_tenants", {"GATE_LLM_TENANTS": "t.yaml"}) == "t.yaml"
    # ...and its own bad value is refused with the variable named, as Settings.load does.
    with pytest.raises(ConfigError, match=r"GATE_MAX_ATTEMPTS must be at least 1, got '0'"):
        setting("max_attempts", unrelated)


def test_the_database_url_is_read_through_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from puzzles.db import resolve_url

    monkeypatch.setenv("GATE_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv(
        "GATE_BENCH_REDIS_URL", "redis://x"
    )  # not a setting: not this call's concern
    assert resolve_url(None).drivername == "postgresql+asyncpg"
    monkeypatch.setenv("GATE_DATABASE_URL", "")
    assert str(resolve_url(None)) == "sqlite+aiosqlite:///./gate.db"
