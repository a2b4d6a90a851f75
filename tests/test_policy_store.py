"""Stored policy: validated versions with history, document edits for the dashboard's toggles, and
two replicas on one database and one Redis that both run the newest version."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import yaml
from sqlalchemy import insert

from gate.config import GateConfig
from gate.errors import ConfigError
from gate.gatekeeper import Deny, Visitor
from gate.policy import parse_policy
from gate.rules import RuleSet
from operator_state.models import PolicyVersion
from operator_state.policy_store import (
    current_policy,
    policy_history,
    save_policy,
    set_dry_run,
    set_rule_price,
)
from puzzles.db import create_engine, session_factory
from puzzles.migrations import create_schema
from serving.runtime import Runtime, open_runtime
from tests.support import key_prefix, redis_store

POLICY = """\
# Prices for the public API (edited by ops)
version: 1
tiers:
  partner: {discount: 0.5}
rules:
  - name: static      # assets are free
    match: {path: /static/}
    action: allow
  - name: api
    match:
      path: /api/
    action: challenge
    price: 1500       # expected solver tokens
  - name: bots
    match: {user_agent: "*bot*"}
    weigh: 5
thresholds:
  - weight: 5
    action: challenge
    price: 4000
default: allow
"""


# -- versions ----------------------------------------------------------------------------------


async def test_versions_are_validated_stored_and_listed_newest_first(database_url: str) -> None:
    from operator_state.policy_audit import policy_history as audit_trail

    engine = create_engine(database_url)
    try:
        await create_schema(engine)
        sessions = session_factory(engine)
        assert await current_policy(sessions) is None
        first = await save_policy(sessions, POLICY, "alice", note="launch")
        second = await save_policy(sessions, set_rule_price(POLICY, "api", 2000), "bob")
        assert second.version > first.version

        with pytest.raises(ConfigError, match=r"rule 2 \('api'\): action must be one of"):
            await save_policy(
                sessions, POLICY.replace("action: challenge", "action: charge"), "eve"
            )
        with pytest.raises(ConfigError, match="too high"):

            def refuse(policy: object) -> None:
                raise ConfigError("too high")

            await save_policy(sessions, POLICY, "eve", check=refuse)
        with pytest.raises(ConfigError, match="actor"):
            await save_policy(sessions, POLICY, "")

        current = await current_policy(sessions)
        assert current is not None and current.version == second.version
        assert "price: 2000" in current.text and current.at.tzinfo is not None
        history = await policy_history(sessions)
        assert [(item.actor, item.note) for item in history] == [("bob", ""), ("alice", "launch")]
        assert [item.actor for item in await policy_history(sessions, actor="alice")] == ["alice"]
        audit = await audit_trail(engine)
        assert [(entry.actor, entry.source) for entry in audit] == [
            ("bob", "admin"),
            ("alice", "admin"),
        ]
    finally:
        await engine.dispose()


# -- document edits ------------------------------------------------------------------------------


def test_set_rule_price_changes_one_value_and_keeps_comments() -> None:
    edited = set_rule_price(POLICY, "api", 2500)
    assert edited == POLICY.replace("price: 1500 ", "price: 2500 ")
    assert "# expected solver tokens" in edited
    threshold = set_rule_price(POLICY, "threshold:5", 6000)
    assert yaml.safe_load(threshold)["thresholds"][0]["price"] == 6000
    assert "# Prices for the public API" in threshold


def test_set_dry_run_adds_or_flips_the_flag_globally_or_per_rule() -> None:
    on = set_dry_run(POLICY, True)
    assert parse_policy(on).dry_run and "# assets are free" in on
    assert set_dry_run(on, False) == on.replace("dry_run: true", "dry_run: false")
    rule_on = set_dry_run(POLICY, True, rule="api")
    parsed = parse_policy(rule_on)
    assert [rule.dry_run for rule in parsed.rules] == [False, True, False]
    assert not parsed.dry_run and "# expected solver tokens" in rule_on
    static_on = set_dry_run(POLICY, True, rule="static")  # a rule with a trailing comment
    assert [rule.dry_run for rule in parse_policy(static_on).rules] == [True, False, False]


def test_a_new_key_after_a_nested_block_stays_in_its_rule() -> None:
    nested = (
        "rules:\n"
        "  - name: api\n"
        "    action: challenge\n"
        "    price: 10\n"
        "    match:\n"
        "      path: /api/\n"
        "      # only the API\n"
        "  - name: rest\n"
        "    action: allow\n"
    )
    edited = set_dry_run(nested, True, rule="api")
    assert "# only the API" in edited
    assert [rule.dry_run for rule in parse_policy(edited).rules] == [True, False]
    crlf = set_dry_run(nested.replace("\n", "\r\n"), True, rule="rest")
    assert crlf.endswith("    action: allow\r\n    dry_run: true\r\n")


def test_edits_of_flow_style_documents_fall_back_to_a_rewrite() -> None:
    flow = "rules: [{name: api, match: {path: /api/}, action: challenge, price: 100}]"
    edited = set_dry_run(flow, True, rule="api")
    assert yaml.safe_load(edited)["rules"][0] == {
        "name": "api",
        "match": {"path": "/api/"},
        "action": "challenge",
        "price": 100,
        "dry_run": True,
    }
    assert parse_policy(set_rule_price(flow, "api", 300)).rules[0].terms.price == 300  # type: ignore[union-attr]
    assert parse_policy(set_dry_run("", True)).dry_run
    bare = "defaults: {price: 100}\ndefault: challenge\n"
    assert parse_policy(set_rule_price(bare, "default", 300)).default.price == 300


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda: set_rule_price(POLICY, "nope", 10), "no rule named 'nope'"),
        (lambda: set_rule_price(POLICY, "static", 10), "only a challenge rule"),
        (lambda: set_rule_price(POLICY, "api", 0), "positive"),
        (lambda: set_dry_run("- a list", True), "a mapping"),
        (lambda: set_dry_run(POLICY, True, rule="default"), "for the whole policy"),
        (lambda: set_dry_run(POLICY, True, rule="threshold:5"), "for the whole policy"),
        (lambda: set_rule_price("default: allow", "default", 5), "only a challenge rule"),
        (lambda: set_rule_price("default: {action: deny}", "default", 5), "only a challenge"),
    ],
)
def test_edits_name_what_is_wrong(edit: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        edit()  # type: ignore[operator]


# -- replicas ------------------------------------------------------------------------------------


async def _until(check: object, seconds: float = 10.0) -> None:
    """Poll ``check`` until it holds; the deadline only bounds a broken run."""
    async with asyncio.timeout(seconds):
        while not await check():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_a_saved_policy_and_overrides_reach_two_replicas_on_one_database_and_redis(
    database_url: str, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = GateConfig.from_env(
        {},
        state_dir=tmp_path,
        database_url=database_url,
        policy_poll=0.05,
        overrides_poll=0.05,
    )
    engine = create_engine(database_url)  # `gate db upgrade`, before the replicas start
    try:
        await create_schema(engine)
    finally:
        await engine.dispose()
    prefix = key_prefix()
    api = Visitor(path="/api/x", peer="192.0.2.1")
    async with (
        redis_store(redis_url, prefix) as first_store,
        redis_store(redis_url, prefix) as second_store,
    ):
        replicas: list[Runtime] = []
        try:
            replicas.append(await open_runtime(config, RuleSet([]), seed=False, store=first_store))
            replicas.append(await open_runtime(config, RuleSet([]), seed=False, store=second_store))
            admin_engine = create_engine(database_url)  # the dashboard's own connection
            sessions = session_factory(admin_engine)
            try:
                saved = await save_policy(sessions, POLICY, "alice")

                async def both_run(price: int) -> bool:
                    verdicts = [r.gatekeeper.verdict(api) for r in replicas]
                    return all(v.name == "api" and v.rule.price == price for v in verdicts)

                await _until(lambda: both_run(1500))
                assert [r.policy_version for r in replicas] == [saved.version] * 2

                # A stored version that does not validate (written around save_policy) is never
                # applied: both keep the running policy, and say so once.
                async with sessions() as session, session.begin():
                    await session.execute(
                        insert(PolicyVersion).values(
                            text="rules: [{action: charge}]",
                            digest="x",
                            actor="mallory",
                            note="",
                            created_at=saved.at,
                        )
                    )
                with caplog.at_level(logging.ERROR, logger="reasoning_gate"):
                    await _until(lambda: _all_refused(replicas, saved.version + 1), seconds=10)
                assert await both_run(1500)
                assert caplog.text.count("stored policy not applied") == 2

                await save_policy(sessions, set_rule_price(POLICY, "api", 2500), "bob")
                await _until(lambda: both_run(2500))

                from operator_state.overrides import set_override

                await set_override(
                    sessions, "net:192.0.2.0/24", tier=None, blocked=True, actor="alice"
                )

                async def both_block() -> bool:
                    return all(r.gatekeeper.blocked(api) is not None for r in replicas)

                await _until(both_block)
                for runtime in replicas:
                    decision = await runtime.gatekeeper.decide(api)
                    assert isinstance(decision, Deny) and decision.reason == "blocked"
            finally:
                await admin_engine.dispose()
        finally:
            for runtime in replicas:
                await runtime.close()


async def _all_refused(replicas: list[Runtime], version: int) -> bool:
    return all(r._refused_version == version for r in replicas)
