"""Identity overrides: blocked clients are denied everywhere, a tier override prices as that tier,
and the operator's list in SQL is audited and reaches the gatekeeper."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.clock import ManualClock
from gate.errors import ConfigError
from gate.gatekeeper import Allow, Challenge, Deny, Gatekeeper, GateSettings, Visitor
from gate.keys import KeyRing
from gate.overrides import BLOCKED, IdentityOverride, effective
from gate.passes import PassCodec
from gate.policy import parse_policy
from gate.store import MemoryStore
from tests.support import FixedWordSource

POLICY = """
tiers:
  partner: {discount: 0.5, free_per_window: 3}
rules:
  - name: static
    match: {path: /static/}
    action: allow
  - name: api
    match: {path: /api/}
    action: challenge
    price: 1000
"""
ALICE = "192.0.2.10"  # identity net:192.0.2.0/24
BOB = "198.51.100.7"


def keeper(policy: str = POLICY) -> Gatekeeper:
    clock = ManualClock()
    codec = PassCodec(KeyRing.generate(), clock=clock)
    return Gatekeeper(
        MemoryStore(clock=clock),
        FixedWordSource(),
        codec,
        parse_policy(policy),
        GateSettings(),
        clock=clock,
    )


def test_identity_keys_are_the_gatekeepers() -> None:
    gk = keeper()
    assert gk.identity(Visitor(path="/", peer=ALICE)) == "net:192.0.2.0/24"
    assert gk.identity(Visitor(path="/", peer="2001:db8::1")) == "net:2001:db8::/64"
    assert gk.identity(Visitor(path="/", peer=None, bot="crawler")) == "bot:crawler"


@pytest.mark.parametrize("dry_run", [False, True])
async def test_a_blocked_identity_is_denied_on_every_path_even_in_dry_run(dry_run: bool) -> None:
    gk = keeper(f"dry_run: {str(dry_run).lower()}\n{POLICY}")
    gk.overrides = effective({"net:192.0.2.0/24": IdentityOverride(blocked=True, reason="abuse")})
    for path in ("/static/app.js", "/api/x", "/elsewhere"):
        visitor = Visitor(path=path, peer=ALICE)
        assert gk.verdict(visitor).rule is BLOCKED  # adapters that skip decide() on free rules
        decision = await gk.decide(visitor)
        assert isinstance(decision, Deny) and decision.reason == "blocked"
        assert isinstance(await gk.decide(visitor, gk.verdict(Visitor(path=path, peer=BOB))), Deny)
    assert isinstance(await gk.decide(Visitor(path="/static/x", peer=BOB)), Allow)


async def test_a_tier_override_gives_that_tiers_allowance_and_discount() -> None:
    gk = keeper()
    partner = effective({"net:192.0.2.0/24": IdentityOverride(tier="partner")})
    gk.overrides = partner
    for _ in range(3):  # the tier's free allowance
        assert isinstance(await gk.decide(Visitor(path="/api/x", peer=ALICE)), Allow)
    alice = await gk.preview(Visitor(path="/api/x", peer=ALICE))
    bob = await gk.preview(Visitor(path="/api/x", peer=BOB))
    assert (alice.action, alice.tier, alice.price_tokens) == ("challenge", "partner", 500)
    assert (bob.action, bob.tier, bob.price_tokens) == ("challenge", None, 1000)
    assert isinstance(await gk.decide(Visitor(path="/api/x", peer=ALICE)), Challenge)
    assert gk.tier(Visitor(path="/", peer=ALICE)) == gk.rules.tiers["partner"]


def test_an_override_that_changes_nothing_is_dropped() -> None:
    view = effective({"a": IdentityOverride(), "b": IdentityOverride(tier="partner")})
    assert list(view) == ["b"]
    assert not effective({"a": IdentityOverride()})


async def test_overrides_are_stored_listed_cleared_and_audited(database_url: str) -> None:
    from operator_state.overrides import (
        clear_override,
        identity_history,
        list_overrides,
        load_override_view,
        overrides_revision,
        set_override,
    )
    from puzzles.db import create_engine, session_factory
    from puzzles.migrations import create_schema

    engine = create_engine(database_url)
    try:
        await create_schema(engine)
        sessions = session_factory(engine)
        assert await overrides_revision(sessions) == (0, 0)
        await set_override(sessions, "key:acme", tier="partner", blocked=False, actor="ops")
        first = await overrides_revision(sessions)
        await set_override(
            sessions, "net:192.0.2.0/24", tier=None, blocked=True, actor="ops", reason="abuse"
        )
        changed = await set_override(
            sessions, "key:acme", tier="gold", blocked=False, actor="lead", reason="upgrade"
        )
        assert changed.at.tzinfo is not None
        listed = await list_overrides(sessions)
        assert [(o.identity, o.tier, o.blocked, o.actor) for o in listed] == [
            ("key:acme", "gold", False, "lead"),
            ("net:192.0.2.0/24", None, True, "ops"),
        ]
        assert (await load_override_view(sessions))["net:192.0.2.0/24"] == IdentityOverride(
            None, True, "abuse"
        )
        await clear_override(sessions, "key:acme", actor="lead")
        assert [o.identity for o in await list_overrides(sessions)] == ["net:192.0.2.0/24"]
        assert await overrides_revision(sessions) > first
        trail = await identity_history(sessions, "key:acme")
        assert [(e.action, e.actor, e.tier) for e in trail] == [
            ("clear", "lead", None),
            ("set", "lead", "gold"),
            ("set", "ops", "partner"),
        ]
        with pytest.raises(ConfigError):
            await set_override(sessions, " padded ", tier=None, blocked=True, actor="ops")
        with pytest.raises(ConfigError):
            await set_override(sessions, "key:x", tier=None, blocked=True, actor="")
    finally:
        await engine.dispose()


async def test_a_runtime_applies_overrides_from_sql_within_its_poll_interval(
    seeded_state: Path, tmp_path: Path, redis_url: str
) -> None:
    import asyncio

    from gate.config import GateConfig
    from gate.rules import Action, Rule, RuleSet
    from operator_state.overrides import clear_override, set_override
    from serving.runtime import open_runtime
    from tests.test_policy_store import redis_store

    config = GateConfig.from_env({}, state_dir=seeded_state, overrides_poll=0.05)
    async with redis_store(redis_url) as store:
        runtime = await open_runtime(
            config, RuleSet([Rule("/", action=Action.ALLOW)]), seed=False, store=store
        )
        try:
            visitor = Visitor(path="/page", peer=ALICE)
            sessions = runtime._sessions()
            await set_override(sessions, "net:192.0.2.0/24", tier=None, blocked=True, actor="ops")
            async with asyncio.timeout(10):
                while not isinstance(await runtime.gatekeeper.decide(visitor), Deny):
                    await asyncio.sleep(0.02)
            await clear_override(sessions, "net:192.0.2.0/24", actor="ops")
            async with asyncio.timeout(10):
                while not isinstance(await runtime.gatekeeper.decide(visitor), Allow):
                    await asyncio.sleep(0.02)
        finally:
            await runtime.close()


# PostgreSQL only: SQLite serialises writers, so its ids commit in order.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_change_committed_after_a_later_numbered_one_still_moves_the_revision(
    database_url: str,
) -> None:
    """PostgreSQL hands out ids before commit: the older id may commit last."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from operator_state.models import IdentityAction
    from operator_state.overrides import overrides_revision, set_override
    from puzzles.db import create_engine, session_factory
    from puzzles.migrations import create_schema

    engine = create_engine(database_url)
    try:
        await create_schema(engine)
        sessions = session_factory(engine)
        async with sessions() as slow, slow.begin():
            await slow.execute(
                insert(IdentityAction).values(
                    at=datetime.now(UTC),
                    identity="net:192.0.2.0/24",
                    action="set",
                    tier=None,
                    blocked=True,
                    actor="ops",
                    reason="abuse",
                )
            )
            await set_override(sessions, "key:acme", tier="gold", blocked=False, actor="ops")
            seen = await overrides_revision(sessions)
        assert await overrides_revision(sessions) != seen
    finally:
        await engine.dispose()
