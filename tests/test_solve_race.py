"""Exactly one pass per solved challenge, under any interleaving and on every store.

The interleaving that used to lose the pass: the attempt that uses the last try is correct and on
its way to ``Take`` when a later attempt (over the limit) runs.  The later one must not remove the
record under it.  One test forces that order at the store seam; the stress test races 200 correct
answers against one challenge, round after round, on real Redis and a real Redis Cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from typing import Any

import pytest

from gate.challenges import ChallengeService, Terms
from gate.errors import ChallengeError, ChallengeGone
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.store import MemoryStore, Op, Store, Take
from tests.support import FixedWordSource, cluster_store, redis_store

TERMS = Terms(subject="net:192.0.2.0/24", scope="http:/api/", rule="r", budget=3, pass_ttl=60)
ROUNDS = int(os.environ.get("GATE_RACE_ROUNDS", "100"))
RACERS = 200


class HeldTake(Store):
    """A memory store whose first ``Take`` waits until ``release`` is set."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.taking = asyncio.Event()
        self.release = asyncio.Event()

    async def execute(self, ops: Sequence[Op]) -> list[Any]:
        if any(isinstance(op, Take) for op in ops) and not self.taking.is_set():
            self.taking.set()
            await self.release.wait()
        return await self.inner.execute(ops)


async def test_an_attempt_past_the_limit_does_not_take_the_pass_from_the_last_correct_one() -> None:
    store = HeldTake()
    source = FixedWordSource()
    challenges = ChallengeService(store, source, PassCodec(KeyRing.generate()), max_attempts=1)
    issued = await challenges.issue(TERMS, price=500, tier=2)
    word = source.issued[-1]
    winner = asyncio.create_task(challenges.solve(issued.challenge_id, TERMS.subject, [word]))
    await asyncio.wait_for(store.taking.wait(), 5)  # the one allowed attempt is about to take
    with pytest.raises(ChallengeGone, match="no attempts left"):
        await challenges.solve(issued.challenge_id, TERMS.subject, [word])
    store.release.set()
    minted = await asyncio.wait_for(winner, 5)
    assert minted.claims.subject == TERMS.subject


async def _round(replicas: Sequence[ChallengeService], source: FixedWordSource) -> int:
    issued = await replicas[0].issue(TERMS, price=500, tier=2)
    word = source.issued[-1]
    results = await asyncio.gather(
        *(
            replicas[i % len(replicas)].solve(issued.challenge_id, TERMS.subject, [word])
            for i in range(RACERS)
        ),
        return_exceptions=True,
    )
    for result in results:  # anything but a pass or a refusal is a bug
        if isinstance(result, BaseException) and not isinstance(result, ChallengeError):
            raise result
    return sum(1 for result in results if not isinstance(result, BaseException))


async def test_two_hundred_concurrent_correct_answers_mint_exactly_one_pass_on_redis(
    redis_url: str,
) -> None:
    # Four replicas (a store and connection pool each) on one Redis: the racers' batches reach
    # the server on different connections, in whatever order the network gives.
    keys = KeyRing.generate()
    source = FixedWordSource()
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(redis_store(redis_url))
        stores = [first] + [
            await stack.enter_async_context(redis_store(redis_url, first.prefix)) for _ in range(3)
        ]
        replicas = [ChallengeService(store, source, PassCodec(keys)) for store in stores]
        minted = [await _round(replicas, source) for _ in range(ROUNDS)]
    assert minted == [1] * ROUNDS, f"rounds without exactly one pass: {minted}"


async def test_two_hundred_concurrent_correct_answers_mint_exactly_one_pass_on_redis_cluster(
    redis_cluster_url: str,
) -> None:
    # The same four replicas on a three-master cluster: the challenge's keys and the solver's
    # epoch may sit on different nodes, and the Take still decides alone.
    keys = KeyRing.generate()
    source = FixedWordSource()
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(cluster_store(redis_cluster_url))
        stores = [first] + [
            await stack.enter_async_context(cluster_store(redis_cluster_url, first.prefix))
            for _ in range(3)
        ]
        replicas = [ChallengeService(store, source, PassCodec(keys)) for store in stores]
        minted = [await _round(replicas, source) for _ in range(ROUNDS)]
    assert minted == [1] * ROUNDS, f"rounds without exactly one pass: {minted}"


async def test_two_hundred_concurrent_correct_answers_mint_exactly_one_pass_in_memory() -> None:
    source = FixedWordSource()
    challenges = ChallengeService(MemoryStore(), source, PassCodec(KeyRing.generate()))
    minted = [await _round([challenges], source) for _ in range(ROUNDS)]
    assert minted == [1] * ROUNDS
