"""Throughput of a typical gated-request batch (Incr, Incr, HIncr) on each store backend.

Run: ``.venv/bin/python bench/store_ops.py [--seconds 2] [--redis-url URL] [--concurrency 1,32]``.
Sequential figures show per-batch latency (Python overhead + one round trip); concurrent figures
show what many in-flight requests of one worker process get through.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from gate.store import HIncr, Incr, MemoryStore, Op, RedisStore, Store


def batch(client: int) -> list[Op]:
    key = f"client:{client}"
    return [
        Incr(f"rate:{key}:second", 1, 1.0),
        Incr(f"rate:{key}:minute", 1, 60.0),
        HIncr(f"ledger:{key}", "served", 1, 86_400.0),
    ]


async def measure(store: Store, seconds: float, concurrency: int) -> float:
    batches = [batch(i) for i in range(64)]
    for ops in batches:  # warm up: connections, allocations
        await store.execute(ops)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal done
        execute = store.execute
        i = offset
        while time.perf_counter() < deadline:
            for _ in range(50):
                await execute(batches[i & 63])
                i += 1
            done += 50

    start = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return done / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--concurrency", default="1,32")
    args = parser.parse_args()
    levels = [int(n) for n in args.concurrency.split(",")]

    for level in levels:
        memory = MemoryStore()
        rate = await measure(memory, args.seconds, level)
        print(
            f"MemoryStore  concurrency={level:<3} {rate:>10,.0f} batches/s  ({3 * rate:,.0f} ops/s)"
        )

    prefix = f"rg-bench:{uuid.uuid4().hex}:"
    redis_store = RedisStore.from_url(args.redis_url, prefix=prefix)
    try:
        for level in levels:
            rate = await measure(redis_store, args.seconds, level)
            print(
                f"RedisStore   concurrency={level:<3} {rate:>10,.0f} batches/s  "
                f"({3 * rate:,.0f} ops/s)"
            )
    finally:
        client = redis_store._client
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await redis_store.close()


if __name__ == "__main__":
    asyncio.run(main())
