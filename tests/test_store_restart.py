"""A Redis restart must not hand live passes their budget back (gate.epoch).

Each test runs its own ``redis-server`` on a free loopback port (the shared test Redis must never
be restarted), restarts it mid-traffic, and checks through the gatekeeper, as a paying client
sees it, that the old pass is refused (``reset``) without persistence, that paying again works at
once, and that with AOF persistence the restart costs the client nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gate.epoch import epoch_key
from gate.errors import StoreError
from gate.gatekeeper import Allow, Challenge, Gatekeeper, Visitor
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.rules import Rule, RuleSet
from gate.store import Get, MemoryStore, RedisStore, Store
from tests.support import FixedWordSource, free_port

BUDGET = 40
RULES = RuleSet([Rule("/api/", price=600, budget=BUDGET, pass_ttl=600)])


class RedisServer:
    """A private redis-server that a test may stop and start again on the same port."""

    def __init__(self, directory: Path, *, aof: bool) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is required for the restart tests", pytrace=False)
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.aof = aof
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.aof
            else ["--appendonly", "no"]
        )
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(self.directory),
                *persistence,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            probe = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if probe.stdout.strip() == "PONG":
                return
            subprocess.run(["sleep", "0.02"])
        pytest.fail(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: a clean shutdown (AOF flushed, no RDB: --save '')
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(params=[False, True], ids=["no-persistence", "aof"])
def redis_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, aof=request.param)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def gate_on(store: Store) -> AsyncIterator[tuple[Gatekeeper, FixedWordSource]]:
    source = FixedWordSource()
    keeper = Gatekeeper(store, source, PassCodec(KeyRing.generate()), RULES)
    try:
        yield keeper, source
    finally:
        await store.close()


VISITOR = Visitor(path="/api/data", peer="198.51.100.7")


async def pay(keeper: Gatekeeper, source: FixedWordSource) -> str:
    decision = await keeper.decide(VISITOR)
    assert isinstance(decision, Challenge)
    minted = await keeper.solve(decision.challenge.challenge_id, VISITOR, [source.issued[-1]])
    return minted.token


async def use(keeper: Gatekeeper, token: str) -> Allow | Challenge | None:
    """One paid request; None when the store was unreachable (the gate answers 503)."""
    try:
        decision = await keeper.decide(
            Visitor(path="/api/data", peer="198.51.100.7", tokens=(token,))
        )
    except StoreError:
        return None
    assert isinstance(decision, Allow | Challenge)
    return decision


async def test_a_redis_restart_never_gives_a_pass_its_budget_back(
    redis_server: RedisServer,
) -> None:
    async with gate_on(RedisStore.from_url(redis_server.url, timeout=0.5)) as (keeper, source):
        token = await pay(keeper, source)
        served = 0
        outcomes: list[str] = []

        async def traffic() -> None:
            nonlocal served
            for _ in range(BUDGET * 2):
                decision = await use(keeper, token)
                if isinstance(decision, Allow):
                    served += 1
                outcomes.append("down" if decision is None else type(decision).__name__.lower())
                await asyncio.sleep(0.005)

        async def restart_midway() -> None:
            while len(outcomes) < BUDGET // 2:
                await asyncio.sleep(0.005)
            await asyncio.to_thread(redis_server.restart)

        await asyncio.gather(traffic(), restart_midway())
        # Whatever the store went through, the pass paid for at most its budget.
        assert served <= BUDGET, outcomes
        after = await use(keeper, token)
        if redis_server.aof:
            # Persistence kept the meter and the epoch: the pass goes on where it was (a use
            # whose reply was lost to the restart may have been counted: closed, not open).
            assert served >= BUDGET - outcomes.count("down"), outcomes
            assert isinstance(after, Challenge)
            assert after.reason == "exhausted"
        else:
            # The meter is gone with the epoch marker: the pass is refused, not restarted.
            assert isinstance(after, Challenge) and after.reason == "reset", outcomes
            assert served < BUDGET
            # The honest client pays again and its new pass works at once.
            fresh = await pay(keeper, source)
            again = await use(keeper, fresh)
            assert isinstance(again, Allow) and again.remaining == BUDGET - 1


async def test_replicas_agree_on_the_new_epoch_after_a_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, aof=False)
    server.start()
    try:
        keys = KeyRing.generate()
        source = FixedWordSource()
        stores = [RedisStore.from_url(server.url, timeout=0.5) for _ in range(3)]
        replicas = [Gatekeeper(store, source, PassCodec(keys), RULES) for store in stores]
        server.restart()
        decision = await replicas[0].decide(VISITOR)
        assert isinstance(decision, Challenge)
        # The first requests after the restart race to write the marker; all read one value.
        token = (
            await replicas[1].solve(decision.challenge.challenge_id, VISITOR, [source.issued[-1]])
        ).token
        results = await asyncio.gather(*(use(replica, token) for replica in replicas * 5))
        assert all(isinstance(result, Allow) for result in results), results
        subject = replicas[0].identity(VISITOR)
        epochs = {(await store.execute([Get(epoch_key(subject))]))[0] for store in stores}
        assert len(epochs) == 1
        for store in stores:
            await store.close()
    finally:
        server.stop()


async def test_a_restarted_single_process_gate_refuses_the_passes_of_its_last_life() -> None:
    keys = KeyRing.generate()  # the signing key survives a restart (it is a file in production)
    source = FixedWordSource()
    before = Gatekeeper(MemoryStore(), source, PassCodec(keys), RULES)
    token = await pay(before, source)
    assert isinstance(await use(before, token), Allow)
    after = Gatekeeper(MemoryStore(), source, PassCodec(keys), RULES)  # same key, empty store
    decision = await use(after, token)
    assert isinstance(decision, Challenge) and decision.reason == "reset"
