"""One conformance suite for every hot-state store backend (memory, Redis, Redis Cluster).

The cluster is real (three masters, tests/plugins/redis_cluster.py).  Keys of a batch that must be
atomic share a hash tag (``{t}``), as the gate's own keys do (gate.shards); the other tests' keys
fall into whatever slots they hash to, so their batches span the cluster's nodes.

Time: the memory store runs on a ``ManualClock`` and Redis on real time, so TTL tests use short
TTLs (50 ms) and let time pass through ``elapse``, which advances the manual clock or sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gate.clock import ManualClock
from gate.errors import ConfigError, StoreError
from gate.store import (
    Delete,
    Get,
    HGetAll,
    HIncr,
    Incr,
    MemoryStore,
    Put,
    PutNew,
    RedisStore,
    Store,
    Take,
    open_store,
)
from tests.support import key_prefix, open_store_of

SHORT = 0.05
"""A TTL short enough to wait out in a test."""

PAST_SHORT = 0.06
"""Long enough for ``SHORT`` to have expired, with margin for Redis's millisecond clock."""


@pytest.fixture(params=["memory", "redis", "cluster"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    async for store_ in open_store_of(request):
        yield store_


async def elapse(store: Store, seconds: float) -> None:
    """Let ``seconds`` pass for ``store``: instantly on the memory store's manual clock."""
    if isinstance(store, MemoryStore):
        clock = store.clock
        assert isinstance(clock, ManualClock)
        clock.advance(seconds)
    else:
        await asyncio.sleep(seconds)


# -- get / put / ttl ---------------------------------------------------------------------------


async def test_get_of_a_missing_key_is_none(store: Store) -> None:
    assert await store.get("missing") is None


async def test_put_then_get_returns_the_bytes(store: Store) -> None:
    await store.put("k", b"\x00value\xff", ttl=10)
    assert await store.get("k") == b"\x00value\xff"


async def test_a_value_is_gone_after_its_ttl_and_others_stay(store: Store) -> None:
    await store.put("short", b"a", ttl=SHORT)
    await store.put("long", b"b", ttl=10)
    await elapse(store, PAST_SHORT)
    assert await store.get("short") is None
    assert await store.get("long") == b"b"


async def test_put_overwrites_the_value_and_resets_the_ttl(store: Store) -> None:
    await store.execute([Put("shortened", b"1", 10), Put("shortened", b"2", SHORT)])
    await store.execute([Put("lengthened", b"1", SHORT), Put("lengthened", b"2", 10)])
    assert await store.get("shortened") == b"2"
    await elapse(store, PAST_SHORT)
    assert await store.get("shortened") is None
    assert await store.get("lengthened") == b"2"


# -- take / delete -----------------------------------------------------------------------------


async def test_take_returns_the_value_once_then_none(store: Store) -> None:
    await store.put("challenge", b"secret", ttl=10)
    assert await store.take("challenge") == b"secret"
    assert await store.take("challenge") is None
    assert await store.get("challenge") is None


async def test_fifty_concurrent_takes_of_one_key_yield_the_value_exactly_once(
    store: Store,
) -> None:
    await store.put("challenge", b"secret", ttl=10)
    results = await asyncio.gather(*(store.take("challenge") for _ in range(50)))
    assert results.count(b"secret") == 1
    assert results.count(None) == 49


async def test_put_new_stores_only_when_absent_and_returns_what_is_stored(store: Store) -> None:
    (first,) = await store.execute([PutNew("marker", b"one", 10)])
    (second,) = await store.execute([PutNew("marker", b"two", 10)])
    assert (first, second) == (b"one", b"one")
    assert await store.get("marker") == b"one"
    await store.incr("counter", 3)
    assert (await store.execute([PutNew("counter", b"x", 10)]))[0] == b"3"


async def test_fifty_concurrent_put_news_all_read_the_first_value(store: Store) -> None:
    results = await asyncio.gather(
        *(store.execute([PutNew("marker", b"%d" % i, 10)]) for i in range(50))
    )
    assert len({result[0] for result in results}) == 1


async def test_delete_reports_whether_the_key_existed(store: Store) -> None:
    await store.put("k", b"v", ttl=10)
    assert await store.delete("k") is True
    assert await store.delete("k") is False
    assert await store.get("k") is None


async def test_delete_removes_counters_and_hashes_too(store: Store) -> None:
    await store.incr("counter")
    await store.hincr("hash", "f")
    assert await store.execute([Delete("counter"), Delete("hash")]) == [True, True]
    assert await store.execute([Get("counter"), HGetAll("hash")]) == [None, {}]


# -- counters ----------------------------------------------------------------------------------


async def test_incr_creates_a_counter_and_adds_to_it(store: Store) -> None:
    assert await store.incr("c") == 1
    assert await store.incr("c", 5) == 6
    assert await store.get("c") == b"6"


async def test_incr_accepts_negative_and_zero_amounts(store: Store) -> None:
    assert await store.incr("c", -3) == -3
    assert await store.incr("c", 0) == -3
    assert await store.incr("c", 10) == 7


async def test_incr_of_a_put_decimal_value_counts_from_it(store: Store) -> None:
    await store.put("c", b"41", ttl=10)
    assert await store.incr("c") == 42
    assert await store.get("c") == b"42"


async def test_counter_ttl_is_set_on_creation_and_not_extended_by_later_increments(
    store: Store,
) -> None:
    assert await store.execute(
        [
            Incr("c", 1, SHORT),
            Incr("c", 1, 10),
            HIncr("h", "f", 1, SHORT),
            HIncr("h", "f", 1, 10),
            Put("p", b"41", SHORT),
            Incr("p", 1, 10),
        ]
    ) == [1, 2, 1, 2, None, 42]
    await elapse(store, PAST_SHORT)
    assert await store.get("c") is None
    assert await store.hgetall("h") == {}
    assert await store.get("p") is None, "incrementing a put value keeps the put's TTL"
    assert await store.incr("c", ttl=10) == 1, "an expired counter starts again from zero"


async def test_hincr_counts_fields_independently_and_hgetall_returns_ints(store: Store) -> None:
    assert await store.hincr("ledger", "issued") == 1
    assert await store.hincr("ledger", "issued", 2) == 3
    assert await store.hincr("ledger", "solved", -1) == -1
    assert await store.hincr("ledger", "naïve ✓") == 1
    assert await store.hgetall("ledger") == {"issued": 3, "solved": -1, "naïve ✓": 1}


async def test_hgetall_of_a_missing_key_is_an_empty_dict(store: Store) -> None:
    assert await store.hgetall("missing") == {}


async def test_a_counter_refuses_to_overflow_64_bits(store: Store) -> None:
    await store.incr("c", 2**63 - 1)
    with pytest.raises(StoreError):
        await store.incr("c")
    assert await store.get("c") == b"%d" % (2**63 - 1)


# -- batches -----------------------------------------------------------------------------------


async def test_an_empty_batch_returns_an_empty_list(store: Store) -> None:
    assert await store.execute([]) == []


async def test_a_mixed_batch_returns_one_result_per_op_in_order(store: Store) -> None:
    await store.put("old", b"gone soon", ttl=10)
    results = await store.execute(
        [
            Put("k", b"v", 10),
            Get("k"),
            Incr("n", 2),
            Incr("n", 3),
            HIncr("h", "a", 4),
            HGetAll("h"),
            Take("old"),
            Take("old"),
            Delete("k"),
            Get("k"),
            Get("n"),
        ]
    )
    assert results == [None, b"v", 2, 5, 4, {"a": 4}, b"gone soon", None, True, None, b"5"]


async def test_a_batch_sees_its_own_earlier_writes(store: Store) -> None:
    results = await store.execute([Take("k"), Put("k", b"1", 10), Take("k"), Get("k")])
    assert results == [None, None, b"1", None]


async def test_no_task_observes_a_batch_half_done(store: Store) -> None:
    """Each batch moves one unit between two counters; readers must always see the sum.  The
    counters share a hash tag: atomicity is promised over one tag (on a cluster, one slot)."""
    a, b = "{t}:a", "{t}:b"
    await store.execute([Incr(a, 100, 10), Incr(b, 0, 10)])

    async def move() -> None:
        for _ in range(20):
            await store.execute([Incr(a, -1, 10), Incr(b, 1, 10)])

    async def read() -> list[int]:
        sums = []
        for _ in range(20):
            first, second = await store.execute([Get(a), Get(b)])
            sums.append(int(first) + int(second))
        return sums

    outcomes = await asyncio.gather(move(), move(), read(), read())
    assert all(total == 100 for sums in outcomes[2:] for total in sums)
    assert await store.execute([Get(a), Get(b)]) == [b"60", b"40"]


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "wrong"),
    [
        (Put("k", b"not a number", 10), Incr("k")),
        (Put("k", b"007", 10), Incr("k")),
        (Put("k", b"v", 10), HIncr("k", "f")),
        (Put("k", b"v", 10), HGetAll("k")),
        (HIncr("k", "f", 1, 10), Get("k")),
        (HIncr("k", "f", 1, 10), Take("k")),
        (HIncr("k", "f", 1, 10), Incr("k")),
    ],
    ids=lambda op: type(op).__name__,
)
async def test_an_op_on_the_wrong_kind_of_value_raises_store_error(
    store: Store, setup: Put | HIncr, wrong: Incr | HIncr | HGetAll | Get | Take
) -> None:
    await store.execute([setup])
    with pytest.raises(StoreError):
        await store.execute([wrong])


async def test_a_failing_op_raises_but_like_redis_the_rest_of_its_batch_still_applies(
    store: Store,
) -> None:
    """Redis MULTI/EXEC has no rollback; the memory store matches it, so callers see one behaviour
    whichever backend they run on."""
    await store.put("text", b"v", ttl=10)
    with pytest.raises(StoreError):
        await store.execute([Incr("before"), Incr("text"), Incr("after")])
    assert await store.execute([Get("before"), Get("text"), Get("after")]) == [b"1", b"v", b"1"]


async def test_a_non_finite_ttl_raises_store_error(store: Store) -> None:
    with pytest.raises(StoreError):
        await store.put("k", b"v", ttl=float("inf"))
    with pytest.raises(StoreError):
        await store.incr("k", ttl=float("nan"))


async def test_a_tiny_ttl_is_clamped_to_one_millisecond_not_refused(store: Store) -> None:
    await store.put("k", b"v", ttl=0)
    await store.incr("c", ttl=-5)
    await elapse(store, 0.01)
    assert await store.execute([Get("k"), Get("c")]) == [None, None]


# -- backend specifics -------------------------------------------------------------------------


async def test_memory_store_fails_closed_when_full_instead_of_evicting() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock, max_keys=3)
    await store.execute([Put("a", b"1", 10), Incr("b", 1, 10), HIncr("c", "f", 1, 10)])
    with pytest.raises(StoreError, match="full"):
        await store.execute([Incr("a"), Put("d", b"4", 10)])
    assert await store.execute([Get("a"), Get("d")]) == [b"1", None], "nothing was applied"
    assert await store.execute([Put("a", b"2", 10), Incr("b")]) == [None, 2], "updates still work"
    clock.advance(11)
    await store.put("d", b"4", ttl=10)  # expired keys make room
    assert await store.get("d") == b"4"


async def test_memory_store_sweeps_expired_keys_without_them_being_read() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    await store.execute([Put(f"k{i}", b"v", 1) for i in range(100)])
    clock.advance(2)
    for _ in range(5):
        await store.get("unrelated")
    assert len(store) == 0


async def test_memory_store_heap_stays_bounded_when_one_key_is_put_repeatedly() -> None:
    store = MemoryStore(clock=ManualClock())
    for i in range(10_000):
        await store.put("k", b"%d" % i, ttl=100)
    assert len(store._heap) <= 2 * len(store) + 1024


async def test_redis_store_on_an_unreachable_port_raises_store_error() -> None:
    store = RedisStore.from_url("redis://127.0.0.1:1/0", timeout=0.5)
    try:
        with pytest.raises(StoreError) as excinfo:
            await store.execute([Incr("k")])
        assert type(excinfo.value) is StoreError
        with pytest.raises(StoreError):
            await store.ping()
    finally:
        await store.close()


async def test_redis_store_on_a_server_that_never_answers_raises_store_error_in_time() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # read until the client gives up; never reply
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", timeout=0.05)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(StoreError):
            await store.execute([Incr("k")])
        with pytest.raises(StoreError):
            await store.ping()
        assert asyncio.get_running_loop().time() - started < 1.0
    finally:
        await store.close()
        server.close()
        await server.wait_closed()


async def test_redis_store_prefixes_every_key(redis_url: str) -> None:
    from redis.asyncio import Redis

    prefix = key_prefix("prefix")
    store = RedisStore.from_url(redis_url, prefix=prefix)
    raw = Redis.from_url(redis_url)
    try:
        await store.put("k", b"v", ttl=10)
        assert await raw.get(prefix + "k") == b"v"
        assert await raw.get("k") is None
    finally:
        await raw.delete(prefix + "k")
        await raw.aclose()
        await store.close()


async def test_redis_store_refuses_a_client_that_decodes_responses(redis_url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(ConfigError):
            RedisStore(client)
    finally:
        await client.aclose()


async def test_ping_succeeds_on_a_live_store(store: Store) -> None:
    await store.ping()


# -- open_store --------------------------------------------------------------------------------


async def test_open_store_without_a_url_or_with_memory_url_gives_a_memory_store() -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store("memory://"), MemoryStore)


async def test_open_store_passes_its_clock_to_the_memory_store() -> None:
    clock = ManualClock()
    store = open_store(None, clock=clock)
    assert isinstance(store, MemoryStore)
    assert store.clock is clock


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://example.com:6380", "unix:///tmp/redis.sock"]
)
async def test_open_store_with_a_redis_url_gives_a_redis_store_without_connecting(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, RedisStore)
    await store.close()


@pytest.mark.parametrize(
    "url",
    ["", "localhost:6379", "http://localhost", "memcached://localhost", "memory://somewhere"],
)
async def test_open_store_with_an_unknown_url_raises_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url)


async def test_open_store_keeps_passwords_out_of_its_error_message() -> None:
    with pytest.raises(ConfigError) as excinfo:
        open_store("http://user:hunter2@localhost")
    assert "hunter2" not in str(excinfo.value)


async def test_redis_reloads_its_script_after_the_server_forgets_it(redis_url: str) -> None:
    from redis.asyncio import Redis

    store = RedisStore.from_url(redis_url, prefix=key_prefix("script"))
    admin = Redis.from_url(redis_url)
    try:
        assert await store.incr("k", 1, 5) == 1
        await admin.script_flush()
        assert await store.incr("k", 1, 5) == 2
    finally:
        await admin.delete(store.prefix + "k")
        await admin.aclose()
        await store.close()
