"""The gate on a real three-master Redis Cluster (tests/plugins/redis_cluster.py).

What the cluster adds over one server, tested here: every key about one client lives in one hash
slot, so the meter's batch is one atomic script (no over-spend across replicas); the store follows
a slot that moves; and a master that loses its data resets exactly the passes of its own shards.
The store contract itself runs on the cluster in tests/test_store_conformance.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from redis.crc import key_slot

from gate.challenges import _key, _outstanding_key
from gate.epoch import epoch_key
from gate.errors import ConfigError, StoreError
from gate.gatekeeper import Allow, Challenge, Gatekeeper, Visitor, _meter_key, _rate_key
from gate.keys import KeyRing
from gate.ledger import ledger_key
from gate.passes import PassClaims, PassCodec
from gate.revocation import revocation_key
from gate.rules import Rule, RuleSet
from gate.store import Incr, RedisClusterStore, open_store
from tests.plugins.redis_cluster import LocalCluster
from tests.support import FixedWordSource, cluster_store

BUDGET = 30
RULES = RuleSet([Rule("/api/", price=600, budget=BUDGET, pass_ttl=600)])


def _slot(key: str, prefix: str = "rg:") -> int:
    return key_slot((prefix + key).encode())


@pytest.mark.parametrize("identity", ["net:198.51.100.0/24", "key:{odd}name", "key:}{", ""])
def test_every_key_about_one_client_lives_in_one_slot(identity: str) -> None:
    claims = PassClaims(
        pass_id="p1", subject=identity, scope="s", rule="r", budget=1, price=1,
        issued_at=0, expires_at=1, epoch="e",
    )  # fmt: skip
    keys = [
        f"{_rate_key(identity)}:7",
        _meter_key(claims),
        ledger_key(identity),
        revocation_key(identity),
        epoch_key(identity),
        _outstanding_key(identity, "rule", 2, "tier"),
    ]
    assert len({_slot(key) for key in keys}) == 1, keys
    # A challenge's record and its tries share a slot of their own.
    assert _slot(_key("abc")) == _slot(_key("abc") + ":tries")


def test_the_clients_keys_spread_over_many_slots() -> None:
    slots = {_slot(epoch_key(f"net:10.0.{i // 256}.{i % 256}/32")) for i in range(4096)}
    assert len(slots) > 900  # 1024 shards: every master of a cluster gets its share


def test_a_cluster_url_names_no_database_and_the_prefix_no_hash_tag() -> None:
    assert isinstance(open_store("redis+cluster://127.0.0.1:7000"), RedisClusterStore)
    with pytest.raises(ConfigError):
        RedisClusterStore("redis+cluster://127.0.0.1:7000/3")
    with pytest.raises(ConfigError):
        RedisClusterStore("redis+cluster://127.0.0.1:7000", prefix="{rg}:")


@contextlib.asynccontextmanager
async def replicas(url: str, count: int) -> AsyncIterator[tuple[list[Gatekeeper], FixedWordSource]]:
    """``count`` gatekeepers, a cluster store each, on one key prefix and one signing key."""
    source = FixedWordSource()
    codec = PassCodec(KeyRing.generate())
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(cluster_store(url))
        stores = [first] + [
            await stack.enter_async_context(cluster_store(url, first.prefix))
            for _ in range(count - 1)
        ]
        yield [Gatekeeper(store, source, codec, RULES) for store in stores], source


async def _pay(keeper: Gatekeeper, source: FixedWordSource, visitor: Visitor) -> str:
    decision = await keeper.decide(visitor)
    assert isinstance(decision, Challenge)
    return (await keeper.solve(decision.challenge.challenge_id, visitor, [source.issued[-1]])).token


async def test_four_replicas_on_the_cluster_serve_a_pass_exactly_its_budget(
    redis_cluster_url: str,
) -> None:
    visitor = Visitor(path="/api/data", peer="198.51.100.7")
    async with replicas(redis_cluster_url, 4) as (keepers, source):
        token = await _pay(keepers[0], source, visitor)
        paid = Visitor(path="/api/data", peer="198.51.100.7", tokens=(token,))
        decisions = await asyncio.gather(*(keepers[i % 4].decide(paid) for i in range(3 * BUDGET)))
    allowed = [d for d in decisions if isinstance(d, Allow)]
    assert len(allowed) == BUDGET
    assert sorted(d.remaining for d in allowed) == list(range(BUDGET))
    assert all(
        isinstance(d, Challenge) and d.reason == "exhausted" for d in decisions if d not in allowed
    )


async def test_the_store_follows_a_slot_that_moves_and_applies_the_batch_once(
    redis_cluster: LocalCluster,
) -> None:
    async with cluster_store(redis_cluster.url) as store:
        key = "moving-counter"
        slot = _slot(key, store.prefix)
        assert await store.execute([Incr(key, 1, 60)]) == [1]  # the slot map is loaded now
        ids = {}
        for port in redis_cluster.ports:
            with redis_cluster.client(port) as client:
                ids[port] = client.execute_command("CLUSTER MYID")
        owner = _owner(redis_cluster, slot)
        target = next(port for port in redis_cluster.ports if port != owner)
        with redis_cluster.client(owner) as client:
            client.delete((store.prefix + key).encode())  # an empty slot moves without MIGRATE
        for port in redis_cluster.ports:
            with redis_cluster.client(port) as client:
                client.execute_command("CLUSTER SETSLOT", slot, "NODE", ids[target])
        # The store still sends to the old owner, is told MOVED, reloads the map, resends once.
        assert await store.execute([Incr(key, 5, 60)]) == [5]
        with redis_cluster.client(target) as client:
            assert client.get((store.prefix + key).encode()) == b"5"


async def test_a_master_that_loses_its_data_resets_only_its_own_shards_passes(
    redis_cluster: LocalCluster,
) -> None:
    async with replicas(redis_cluster.url, 2) as (keepers, source):
        prefix = keepers[0].store.prefix  # type: ignore[attr-defined]
        # Two clients whose shards live on different masters.
        owners: dict[int, Visitor] = {}
        for i in range(64):
            visitor = Visitor(path="/api/data", peer=f"10.{i}.0.7")
            slot = _slot(epoch_key(keepers[0].identity(visitor)), prefix)
            port = _owner(redis_cluster, slot)
            owners.setdefault(port, visitor)
            if len(owners) == 2:
                break
        (lost_port, lost), (kept_port, kept) = owners.items()
        tokens = {
            lost_port: await _pay(keepers[0], source, lost),
            kept_port: await _pay(keepers[0], source, kept),
        }
        redis_cluster.restart(lost_port)
        after = {}
        for port, visitor in ((lost_port, lost), (kept_port, kept)):
            paid = Visitor(path="/api/data", peer=visitor.peer, tokens=(tokens[port],))
            for _ in range(50):  # a batch may first meet a connection the restart closed
                try:
                    after[port] = await keepers[1].decide(paid)
                    break
                except StoreError:
                    await asyncio.sleep(0.1)
        assert isinstance(after[lost_port], Challenge) and after[lost_port].reason == "reset"
        assert isinstance(after[kept_port], Allow) and after[kept_port].remaining == BUDGET - 1


def _owner(cluster: LocalCluster, slot: int) -> int:
    """The port of the master that owns ``slot``."""
    with cluster.client(cluster.ports[0]) as client:
        shards = client.execute_command("CLUSTER SLOTS")
    for start, end, master, *_ in shards:
        if int(start) <= slot <= int(end):
            return int(master[1])
    raise AssertionError(f"slot {slot} has no owner")
