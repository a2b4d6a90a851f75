"""A Redis restart must not hand live passes their budget back (gate.epoch).

Each test runs its own ``redis-server`` on a free loopback port (the shared test Redis must never
be restarted), restarts it mid-traffic, and checks through the gatekeeper, as a paying client
sees it, that the old pass is refused (``reset``) without persistence, that paying again works at
once, and that with AOF persistence the restart costs the client nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

    def __init__(self, directory: Path, *, aof: bool, snapshots: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is required for the restart tests", pytrace=False)
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.aof = aof
        self.snapshots = snapshots  # RDB save points (restored after a crash: stale meters)
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
                "3600 1" if self.snapshots else "",
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

    def crash(self) -> None:
        """SIGKILL: no snapshot or AOF flush on the way out (a power cut, an OOM kill)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


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


@pytest.mark.parametrize(
    ("aof", "snapshots", "warned"),
    [(False, False, False), (True, False, False), (True, True, False), (False, True, True)],
    ids=["no-persistence", "aof", "aof-and-rdb", "rdb-only"],
)
async def test_start_up_warns_when_redis_would_restore_stale_meters(
    tmp_path: Path, aof: bool, snapshots: bool, warned: bool
) -> None:
    server = RedisServer(tmp_path, aof=aof, snapshots=snapshots)
    server.start()
    store = RedisStore.from_url(server.url)
    try:
        risk = await store.restart_risk()
    finally:
        await store.close()
        server.stop()
    assert (risk is not None) is warned
    if warned:
        assert risk is not None and "appendonly yes" in risk


@pytest.mark.parametrize(
    ("snapshots", "warned"), [(True, True), (False, False)], ids=["rdb-only", "no-persistence"]
)
async def test_the_runtime_logs_the_restart_risk_once_at_start(
    tmp_path: Path,
    seeded_state: Path,
    caplog: pytest.LogCaptureFixture,
    snapshots: bool,
    warned: bool,
) -> None:
    """What an operator sees: the start of a gate on such a Redis logs the risk as a warning."""
    from gate.config import GateConfig
    from serving.runtime import open_runtime

    server = RedisServer(tmp_path, aof=False, snapshots=snapshots)
    server.start()
    try:
        store = RedisStore.from_url(server.url)
        config = GateConfig.from_env({}, state_dir=seeded_state)
        with caplog.at_level(logging.WARNING, logger="reasoning_gate"):
            runtime = await open_runtime(config, RULES, seed=False, store=store)
            await runtime.close()
    finally:
        server.stop()
    lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == "reasoning_gate" and record.levelno == logging.WARNING
    ]
    if warned:
        assert len(lines) == 1, lines
        assert "no append-only file" in lines[0] and "appendonly yes" in lines[0]
    else:
        assert not any("append-only" in line for line in lines), lines


async def test_why_rdb_only_is_warned_about_a_crash_restores_spent_uses(tmp_path: Path) -> None:
    """The risk the warning names, on a real server: snapshot, spend, crash, restart."""
    server = RedisServer(tmp_path, aof=False, snapshots=True)
    server.start()
    try:
        store = RedisStore.from_url(server.url)
        async with gate_on(store) as (keeper, source):
            token = await pay(keeper, source)
            assert isinstance(await use(keeper, token), Allow)
            subprocess.run(["redis-cli", "-p", str(server.port), "save"], check=True)
            spent = [await use(keeper, token) for _ in range(3)]
            assert all(isinstance(d, Allow) for d in spent)
            server.crash()
            server.start()
            again = [await use(keeper, token) for _ in range(BUDGET)]
        served_again = sum(isinstance(d, Allow) for d in again)
        assert (
            served_again == BUDGET - 1
        )  # 39, where 36 were left: the 3 uses since the snapshot are back
    finally:
        server.stop()
