"""Budget leases (gate.leases): no over-spend across replicas, the stated under-serve and
staleness bounds, and the round trips they save.  Replicas race on the real Redis and on the real
Redis Cluster; the bounds that need time control run on the memory store and a manual clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from gate.clock import ManualClock
from gate.gatekeeper import Allow, Challenge, Gatekeeper, GateSettings, Visitor
from gate.keys import KeyRing
from gate.leases import LEASE_SECONDS
from gate.passes import PassCodec
from gate.revocation import revoke_identity_passes
from gate.rules import Rule, RuleSet
from gate.store import MemoryStore, Op, Store
from tests.support import FixedWordSource, cluster_store, redis_store

BUDGET = 40
LEASE = 8
RULES = RuleSet([Rule("/api/", price=600, budget=BUDGET, pass_ttl=600)])
VISITOR = Visitor(path="/api/data", peer="198.51.100.7")


class Counting(Store):
    """A store that counts the batches it runs."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.batches = 0

    async def execute(self, ops: Sequence[Op]) -> list[Any]:
        self.batches += 1
        return await self.inner.execute(ops)


async def _pay(keeper: Gatekeeper, source: FixedWordSource) -> Visitor:
    decision = await keeper.decide(VISITOR)
    assert isinstance(decision, Challenge)
    minted = await keeper.solve(decision.challenge.challenge_id, VISITOR, [source.issued[-1]])
    return Visitor(path="/api/data", peer=VISITOR.peer, tokens=(minted.token,))


def _keeper(store: Store, source: FixedWordSource, codec: PassCodec, **kwargs: Any) -> Gatekeeper:
    return Gatekeeper(store, source, codec, RULES, GateSettings(pass_lease=LEASE), **kwargs)


def _codec(clock: ManualClock) -> PassCodec:
    return PassCodec(KeyRing.generate(), clock=clock)


async def test_one_process_serves_the_whole_budget_in_an_eighth_of_the_round_trips() -> None:
    store = Counting(MemoryStore())
    source = FixedWordSource()
    keeper = _keeper(store, source, PassCodec(KeyRing.generate()))
    paid = await _pay(keeper, source)
    store.batches = 0
    decisions = [await keeper.decide(paid) for _ in range(BUDGET + 3)]
    allowed = [d for d in decisions if isinstance(d, Allow)]
    assert len(allowed) == BUDGET
    assert [d.remaining for d in allowed] == list(range(BUDGET - 1, -1, -1))
    assert all(isinstance(d, Challenge) and d.reason == "exhausted" for d in decisions[BUDGET:])
    # One metered round trip per top-up of the lease (down to a quarter of 8, back to 8: 6
    # uses each, 7 of them), then one per refused request (which also issues its challenge):
    # against 40 round trips for the 40 uses without leases.
    metered_for_uses = -(-BUDGET // (LEASE - LEASE // 4))
    assert store.batches <= metered_for_uses + 3 * 4, store.batches


class Slow(Counting):
    """A counting store whose round trip takes a while, as a networked one does."""

    async def execute(self, ops: Sequence[Op]) -> list[Any]:
        await asyncio.sleep(0.005)
        return await super().execute(ops)


async def test_concurrent_requests_on_one_pass_wait_for_the_lease_in_flight() -> None:
    store = Slow(MemoryStore())
    source = FixedWordSource()
    keeper = _keeper(store, source, PassCodec(KeyRing.generate()))
    paid = await _pay(keeper, source)
    store.batches = 0
    decisions = await asyncio.gather(*(keeper.decide(paid) for _ in range(BUDGET)))
    allowed = sum(isinstance(d, Allow) for d in decisions)
    # One charge in flight at a time, the others waiting for its lease: one round trip per
    # lease of 8, not one per request as when each went to the store.  The stated bounds
    # hold: never past the budget, at most LEASE - 1 uses left stranded.
    assert BUDGET - (LEASE - 1) <= allowed <= BUDGET, allowed
    assert store.batches <= -(-BUDGET // (LEASE - LEASE // 4)) + 2, store.batches


@contextlib.asynccontextmanager
async def _replicas(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[list[Store]]:
    async with contextlib.AsyncExitStack() as stack:
        if kind == "redis":
            url = request.getfixturevalue("redis_url")
            first: Any = await stack.enter_async_context(redis_store(url))
            opened = [redis_store(url, first.prefix) for _ in range(3)]
        else:
            url = request.getfixturevalue("redis_cluster_url")
            first = await stack.enter_async_context(cluster_store(url))
            opened = [cluster_store(url, first.prefix) for _ in range(3)]
        yield [first] + [await stack.enter_async_context(store) for store in opened]


@pytest.mark.parametrize("kind", ["redis", "cluster"])
async def test_four_leasing_replicas_never_serve_a_pass_more_than_its_budget(
    kind: str, request: pytest.FixtureRequest
) -> None:
    source = FixedWordSource()
    codec = PassCodec(KeyRing.generate())
    async with _replicas(kind, request) as stores:
        keepers = [_keeper(store, source, codec) for store in stores]
        paid = await _pay(keepers[0], source)
        decisions = []
        for _ in range(3):  # waves, so every replica leases more than once
            decisions += await asyncio.gather(*(keepers[i % 4].decide(paid) for i in range(BUDGET)))
    allowed = sum(isinstance(d, Allow) for d in decisions)
    # Never more than the budget; at most LEASE - 1 uses stranded in each replica's lease.
    assert BUDGET - 4 * (LEASE - 1) <= allowed <= BUDGET, allowed
    assert all(isinstance(d, Allow | Challenge) for d in decisions)


async def test_a_revocation_reaches_a_leased_pass_within_the_lease_and_n_minus_1_uses() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    source = FixedWordSource()
    keeper = _keeper(store, source, _codec(clock), clock=clock)
    paid = await _pay(keeper, source)
    assert isinstance(await keeper.decide(paid), Allow)  # leases 8: this use and 7 more
    await revoke_identity_passes(store, keeper.identity(VISITOR), now=clock() + 1)
    served_after = 0
    for _ in range(LEASE):
        if isinstance(await keeper.decide(paid), Allow):
            served_after += 1
    # What the lease held, down to its low-water mark (the top-up's round trip reads the
    # revocation), and never more than N - 1.
    assert LEASE - 1 - LEASE // 4 <= served_after <= LEASE - 1, served_after
    clock.advance(LEASE_SECONDS)
    refused = await keeper.decide(paid)
    assert isinstance(refused, Challenge) and refused.reason == "revoked"


async def test_a_lapsed_lease_gives_its_rest_back() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    source = FixedWordSource()
    keeper = _keeper(store, source, _codec(clock), clock=clock)
    paid = await _pay(keeper, source)
    served = 0
    for _ in range(BUDGET + 5):
        if isinstance(await keeper.decide(paid), Allow):
            served += 1
        clock.advance(LEASE_SECONDS * 0.6)  # every other request finds its lease lapsed
    assert served == BUDGET  # nothing stranded: each lapsed rest was netted into the next charge


async def test_leased_uses_reach_the_ledger_with_the_next_metered_round_trip() -> None:
    from gate.ledger import read_ledger

    store = MemoryStore()
    source = FixedWordSource()
    keeper = _keeper(store, source, PassCodec(KeyRing.generate()))
    paid = await _pay(keeper, source)
    uses = LEASE - LEASE // 4 + 1  # the lease down to its low-water mark, then its top-up
    for _ in range(uses):
        await keeper.decide(paid)
    ledger = await read_ledger(store, keeper.identity(VISITOR))
    assert ledger.served == uses
