"""Pass revocation per identity, on both stores: old passes die, new ones work, others are untouched."""

from __future__ import annotations

import pytest

from gate.clock import ManualClock
from gate.gatekeeper import Allow, Challenge, Gatekeeper, GateSettings, Visitor
from gate.keys import KeyRing
from gate.ledger import read_ledger
from gate.passes import PassClaims, PassCodec
from gate.revocation import is_revoked, revocation_key, revoke_identity_passes
from gate.rules import Rule, RuleSet
from gate.store import MemoryStore, Store
from tests.support import FixedWordSource

RULES = RuleSet([Rule("/paid/", price=600, budget=50)])
ALICE, BOB = "192.0.2.10", "198.51.100.7"


def keeper(store: Store, clock: ManualClock) -> tuple[Gatekeeper, FixedWordSource]:
    source = FixedWordSource()
    codec = PassCodec(KeyRing.generate(), clock=clock)
    return Gatekeeper(store, source, codec, RULES, GateSettings(), clock=clock), source


async def pay(gk: Gatekeeper, source: FixedWordSource, peer: str) -> str:
    decision = await gk.decide(Visitor(path="/paid/a", peer=peer))
    assert isinstance(decision, Challenge)
    gates = len(decision.challenge.puzzle.gates)
    minted = await gk.solve(
        decision.challenge.challenge_id, Visitor(path="/paid/a", peer=peer), source.issued[-gates:]
    )
    return minted.token


async def test_revocation_kills_the_identitys_old_passes_but_not_new_ones_or_others(
    store: Store,
) -> None:
    clock = ManualClock()
    gk, source = keeper(store, clock)
    alice_old, bob = await pay(gk, source, ALICE), await pay(gk, source, BOB)
    alice = gk.identity(Visitor(path="/", peer=ALICE))

    clock.advance(30)
    await revoke_identity_passes(store, alice, now=clock())

    revoked = await gk.decide(Visitor(path="/paid/a", peer=ALICE, tokens=(alice_old,)))
    assert isinstance(revoked, Challenge) and revoked.reason == "revoked"
    assert isinstance(await gk.decide(Visitor(path="/paid/a", peer=BOB, tokens=(bob,))), Allow)

    clock.advance(1)  # passes carry whole seconds: the next second's pass is new
    alice_new = await pay(gk, source, ALICE)
    allowed = await gk.decide(Visitor(path="/paid/b", peer=ALICE, tokens=(alice_new,)))
    assert isinstance(allowed, Allow) and allowed.remaining == 49
    again = await gk.decide(Visitor(path="/paid/a", peer=ALICE, tokens=(alice_old,)))
    assert isinstance(again, Challenge) and again.reason == "revoked"
    # A request refused on a revoked pass was not served.
    assert (await read_ledger(store, alice)).served == 1


async def test_a_pass_minted_in_the_second_of_the_revocation_is_revoked_too() -> None:
    store = MemoryStore()
    clock = ManualClock(1_700_000_000.5)
    gk, source = keeper(store, clock)
    await revoke_identity_passes(store, gk.identity(Visitor(path="/", peer=ALICE)), now=clock())
    token = await pay(gk, source, ALICE)  # same second, after: closed side
    decision = await gk.decide(Visitor(path="/paid/a", peer=ALICE, tokens=(token,)))
    assert isinstance(decision, Challenge) and decision.reason == "revoked"


@pytest.mark.parametrize(
    ("raw", "issued_at", "revoked"),
    [
        (None, 100, False),
        (b"100.0", 100, True),
        (b"100.0", 101, False),
        (b"99.9", 99, True),
        (b"garbage", 10**10, True),  # unreadable: fail closed
        (b"nan", 10**10, True),
    ],
)
def test_is_revoked_compares_the_issue_second_and_fails_closed(
    raw: bytes | None, issued_at: int, revoked: bool
) -> None:
    claims = PassClaims("id", "net:x", "http:/", "r", 1, 1, issued_at, issued_at + 10)
    assert is_revoked(claims, raw) is revoked


async def test_revocation_outlives_the_passes_and_rejects_a_missing_identity() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    await revoke_identity_passes(store, "key:alice", now=clock())
    clock.advance(300 * 86_400)
    assert await store.get(revocation_key("key:alice")) is not None
    with pytest.raises(ValueError):
        await revoke_identity_passes(store, "", now=clock())


async def test_revoke_passes_is_audited_with_who_and_why(database_url: str) -> None:
    from operator_state.overrides import identity_history, revoke_passes
    from puzzles.db import create_engine, session_factory
    from puzzles.migrations import create_schema

    engine = create_engine(database_url)
    try:
        await create_schema(engine)
        store = MemoryStore()
        await revoke_passes(
            session_factory(engine),
            store,
            "key:alice",
            actor="ops@example",
            reason="leaked",
            now=1_700_000_000.0,
        )
        assert await store.get(revocation_key("key:alice")) == b"1700000000.0"
        (event,) = await identity_history(session_factory(engine), "key:alice")
        assert (event.action, event.actor, event.reason) == ("revoke", "ops@example", "leaked")
    finally:
        await engine.dispose()
