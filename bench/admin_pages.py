"""What the admin dashboard's pages cost to build as the number of clients grows.

Fills a store with N client ledgers (memory and Redis), then times what the overview and clients
pages read: the ledger index and every listed ledger, in one round trip (``client_ledgers``), and
the totals.  Also times the puzzle bank page's SQL on a freshly seeded SQLite bank.

    python bench/admin_pages.py [--redis-url redis://127.0.0.1:6379/14] [--repeat 5]

Prints a table; copy figures into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from admin.bank import bank_counts, factory_jobs, near_limit, sample_clues  # noqa: E402
from admin.ledgers import client_ledgers, totals  # noqa: E402
from gate.ledger import bump, enlist  # noqa: E402
from gate.store import MemoryStore, RedisStore, Store  # noqa: E402
from puzzles.builtin import seed_bank  # noqa: E402
from puzzles.db import create_engine  # noqa: E402

SIZES = (100, 1_000, 2_000, 20_000)


async def fill(store: Store, count: int) -> None:
    batch = []
    for number in range(count):
        identity = f"net:10.{number // 65536}.{number // 256 % 256}.{number % 256}/32"
        batch += [enlist(identity), bump(identity, "issued", 3), bump(identity, "tokens_paid", 900)]
        if len(batch) >= 3_000:
            await store.execute(batch)
            batch = []
    if batch:
        await store.execute(batch)


async def best(action, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await action()
        times.append(time.perf_counter() - started)
    return min(times)


async def overview(store: Store) -> None:
    totals(await client_ledgers(store))


async def ledgers(redis_url: str, repeat: int) -> None:
    print(f"| clients in the index | store | ledgers read | best of {repeat} (ms) |")
    print("| ---: | --- | ---: | ---: |")
    for size in SIZES:
        for kind in ("memory", "redis"):
            prefix = f"rg-bench:{uuid.uuid4().hex}:"
            store: Store = (
                MemoryStore() if kind == "memory" else RedisStore.from_url(redis_url, prefix=prefix)
            )
            try:
                await fill(store, size)
                seconds = await best(lambda store=store: overview(store), repeat)
                read = len(await client_ledgers(store))
                print(f"| {size:,} | {kind} | {read:,} | {seconds * 1000:.1f} |")
            finally:
                await store.close()
                if kind == "redis":
                    await _drop(redis_url, prefix)


async def _drop(redis_url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    cleaner = Redis.from_url(redis_url)
    try:
        keys = [key async for key in cleaner.scan_iter(match=f"{prefix}*", count=5000)]
        for start in range(0, len(keys), 5000):
            await cleaner.delete(*keys[start : start + 5000])
    finally:
        await cleaner.aclose()


async def bank(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'gate.db'}"
        clues, _ = await seed_bank(url)
        engine = create_engine(url)
        store = MemoryStore()
        try:

            async def page() -> None:
                await bank_counts(engine)
                await near_limit(engine, store, 500)
                await factory_jobs(engine)
                await sample_clues(engine)

            seconds = await best(page, repeat)
        finally:
            await engine.dispose()
    print(f"\nPuzzle bank page queries, SQLite bank of {clues:,} clues: {seconds * 1000:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    await ledgers(args.redis_url, args.repeat)
    await bank(args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
