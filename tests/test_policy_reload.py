"""Hot reload: a valid change applies and is audited; an invalid file keeps the running policy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gate.config import GateConfig
from gate.gatekeeper import Visitor
from gate.rules import Action, RuleSet
from gate.runtime import open_runtime
from puzzles.audit import policy_history

FIRST = """
rules:
  - name: api
    match: {path: /api/}
    action: challenge
    price: 1500
"""
SECOND = FIRST.replace("price: 1500", "price: 2500")


async def test_policy_changes_apply_after_validation_and_are_audited(
    seeded_state: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(FIRST)
    config = GateConfig.from_env({"GATE_POLICY_FILE": str(policy_file)}, state_dir=seeded_state)
    runtime = await open_runtime(config, RuleSet([]), seed=False)
    try:
        gatekeeper, watcher = runtime.gatekeeper, runtime.watcher
        assert watcher is not None
        price = lambda: gatekeeper.verdict(Visitor(path="/api/x", peer="192.0.2.1")).rule.price  # noqa: E731
        assert price() == 1500
        assert not await watcher.reload()  # unchanged file: nothing to do

        policy_file.write_text("rules: [{name: api, action: charge}]")
        with caplog.at_level(logging.ERROR, logger="reasoning_gate.policy"):
            assert not await watcher.reload()
        assert (
            price() == 1500
            and "keeping the running one" in caplog.text
            and "rule 1 ('api')" in caplog.text
        )

        policy_file.write_text(FIRST.replace("price: 1500", "price: 10000000"))
        assert not await watcher.reload()  # valid YAML, but no puzzle can cost that much
        assert price() == 1500

        policy_file.write_text(SECOND)
        watcher.request_reload("sighup")
        assert await watcher.reload("sighup")
        assert price() == 2500
        assert (
            gatekeeper.verdict(Visitor(path="/other", peer="192.0.2.1")).rule.action is Action.ALLOW
        )

        history = await policy_history(runtime.engine)
        assert [entry.actor for entry in history[:2]] == ["sighup", "startup"]
        assert "price: 2500" in history[0].document
    finally:
        await runtime.close()


async def test_an_invalid_policy_file_stops_the_start(seeded_state: Path, tmp_path: Path) -> None:
    from gate.errors import ConfigError

    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("rules: [{name: x, action: allow, match: {path: {regex: '('}}}]")
    config = GateConfig.from_env({"GATE_POLICY_FILE": str(policy_file)}, state_dir=seeded_state)
    with pytest.raises(ConfigError, match="invalid regex"):
        await open_runtime(config, RuleSet([]), seed=False)
