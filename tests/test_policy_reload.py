"""Hot reload: a valid change applies and is audited; an invalid file keeps the running policy.

The policy file is an input to the stored policy (``operator_state.policy_store``): a changed file becomes
a new version by ``file:<path>``, and the runtime runs the newest stored version.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gate.config import GateConfig
from gate.gatekeeper import Visitor
from gate.rules import Action, RuleSet
from operator_state.policy_audit import policy_history
from operator_state.policy_store import policy_history as versions
from operator_state.policy_store import save_policy
from serving.runtime import open_runtime

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

        stored = await versions(runtime._sessions())
        assert [(item.actor, item.note) for item in stored] == [
            (f"file:{policy_file}", "sighup"),
            (f"file:{policy_file}", "startup"),
        ]
        assert runtime.policy_version == stored[0].version
        history = await policy_history(runtime.engine)
        assert [entry.source for entry in history[:2]] == [str(policy_file)] * 2
        assert "price: 2500" in history[0].document
    finally:
        await runtime.close()


async def test_a_restart_keeps_a_dashboard_edit_until_the_file_changes_or_sighup(
    seeded_state: Path, tmp_path: Path
) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(FIRST)
    config = GateConfig.from_env({"GATE_POLICY_FILE": str(policy_file)}, state_dir=seeded_state)
    visitor = Visitor(path="/api/x", peer="192.0.2.1")

    runtime = await open_runtime(config, RuleSet([]), seed=False)
    try:
        await save_policy(runtime._sessions(), SECOND.replace("2500", "3500"), "alice")
        assert await runtime.sync_policy()
    finally:
        await runtime.close()

    runtime = await open_runtime(config, RuleSet([]), seed=False)  # same file: not imported again
    try:
        assert runtime.gatekeeper.verdict(visitor).rule.price == 3500
        assert runtime.watcher is not None
        runtime.watcher.request_reload("sighup")
        assert await runtime.watcher.reload("sighup")  # the operator asks for the file
        assert runtime.gatekeeper.verdict(visitor).rule.price == 1500
        assert [item.actor for item in await versions(runtime._sessions())][:2] == [
            f"file:{policy_file}",
            "alice",
        ]
    finally:
        await runtime.close()


async def test_an_invalid_policy_file_stops_the_start(seeded_state: Path, tmp_path: Path) -> None:
    from gate.errors import ConfigError

    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("rules: [{name: x, action: allow, match: {path: {regex: '('}}}]")
    config = GateConfig.from_env({"GATE_POLICY_FILE": str(policy_file)}, state_dir=seeded_state)
    with pytest.raises(ConfigError, match="invalid regex"):
        await open_runtime(config, RuleSet([]), seed=False)
