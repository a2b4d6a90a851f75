"""The composition root: build a working gate (store, clue bank, keys, gatekeeper) from a config.

This is the module that knows the concrete parts (the SQL bank in ``puzzles``, the operator's state in
``operator_state``); the core only knows their contracts.  Every way in (middleware, MCP, admin)
starts here.

Policy, one path for every source: the running policy is always the newest version stored in SQL
(``operator_state.policy_store``).  Each replica polls ``max(version)`` every ``GATE_POLICY_POLL`` seconds
and applies a newer version whole, or keeps the running one when it does not validate.  A policy
file (``GATE_POLICY_FILE``) is an input to that store: when its content changes (at start, on the
file watch, on SIGHUP) it is stored as a new version by ``file:<path>``, so file edits and dashboard
edits reach every replica the same way.  Until any version is stored, the rules given in code run.
Identity overrides (tier, block) are reloaded the same way every ``GATE_OVERRIDES_POLL`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gate.config import GateConfig
from gate.decision_log import DecisionLog
from gate.errors import ConfigError
from gate.gatekeeper import Gatekeeper
from gate.keys import load_keyring
from gate.passes import PassCodec
from gate.policy import Policy, parse_policy
from gate.policy_watch import PolicyWatcher
from gate.rules import RuleSource
from gate.store import Store, open_store
from puzzles.builtin import seed_bank

log = logging.getLogger("reasoning_gate")
API_KEY_REFRESH = 30.0  # seconds
SERVE_FLUSH = 15.0  # seconds between writes of clue serve counts to SQL
HEALTH_REFRESH = 60.0  # seconds between readings of the bank-health gauges from SQL
BANK_RELOAD = 60.0  # seconds between checks for clues added or retired (refill, import, build)

if TYPE_CHECKING:  # the concrete parts are imported lazily: `gate --help` must stay instant
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from operator_state.policy_store import StoredPolicy
    from puzzles.bank import ClueBank
    from puzzles.composer import BankComposer


@dataclass
class Runtime:
    config: GateConfig
    store: Store
    gatekeeper: Gatekeeper
    engine: AsyncEngine
    seeded: int  # clues added by this start (0 when the bank already had clues)
    composer: BankComposer
    bank: ClueBank
    watcher: PolicyWatcher | None = None
    # Sessions for the operator's tables (stored policy, overrides), on an engine of their own
    # that keeps no idle SQLite connection.  Set by open_runtime.
    sessions: async_sessionmaker[AsyncSession] | None = None
    policy_version: int = 0  # the stored version running here; 0: the rules given in code
    _refused_version: int = 0  # newest stored version that did not validate here (logged once)
    _overrides_revision: tuple[int, int] = (-1, -1)
    bank_revision: tuple[int, int] = (-1, -1)  # ClueBank.revision() of the index being served
    _poll_engine: AsyncEngine | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def flush_serves(self) -> None:
        """Add the clues served since the last flush to the bank's ``times_served``.

        The live per-clue limit is enforced in the store; this keeps SQL's history in step, which
        is what a restart reads to leave out clues already served up to the limit.
        """
        counts = self.composer.served_counts()
        if not counts:
            return
        await self.bank.record_serves(counts)
        await self.engine.dispose()  # no idle SQL connection while serving (see open_runtime)

    async def refresh_health(self) -> None:
        """Read the bank's health from SQL into the gauges (fresh clues, serve rate, time left)."""
        from puzzles.health import bank_health, publish

        publish(await bank_health(self.engine, self.config.serve_limit, self.config.bank_low_water))
        await self.engine.dispose()  # no idle SQL connection while serving (see open_runtime)

    async def reload_bank(self, *, force: bool = False) -> bool:
        """Serve a fresh index when the bank changed (clues added by a refill, import or build,
        or retired); True when it was reloaded.  Other replicas' serves recorded in SQL come
        with it, so a clue they used up is not offered here again."""
        from puzzles.published import load_whole_gates

        revision = await self.bank.revision()
        if revision == self.bank_revision and not force:
            await self.engine.dispose()
            return False
        index = await self.bank.load_index()
        served_out = await self.bank.served_out(self.config.serve_limit)
        whole = await load_whole_gates(self.engine) if self.config.whole_gates else None
        await self.engine.dispose()  # no idle SQL connection while serving (see open_runtime)
        self.composer.replace_index(index, whole, served_out)
        self.bank_revision = revision
        return True

    async def refresh_api_keys(self) -> None:
        """Load the active API keys; keys created or revoked elsewhere apply within a minute."""
        from operator_state.apikeys import active_api_keys

        self.gatekeeper.api_keys = await active_api_keys(self.engine)
        await self.engine.dispose()  # see open_runtime: no idle SQL connection while serving

    async def _refresh_api_keys_forever(self, interval: float = API_KEY_REFRESH) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh_api_keys()
            except Exception:  # keep the last good list; a database hiccup must not stop the gate
                log.exception("refreshing API keys failed; keeping the previous list")

    def _sessions(self) -> async_sessionmaker[AsyncSession]:
        assert self.sessions is not None, "open_runtime sets the sessions"
        return self.sessions

    async def sync_policy(self) -> bool:
        """Apply the newest stored policy version if it is newer than the running one.

        True when a version was applied.  A version that does not validate here (say a price
        above this replica's GATE_MAX_PRICE) is never applied: the running policy stays, and the
        refusal is logged once per version.
        """
        from gate.policy import parse_policy
        from operator_state.policy_store import latest_version, policy_version

        sessions = self._sessions()
        latest = await latest_version(sessions)
        if latest <= self.policy_version or latest == self._refused_version:
            return False
        stored = await policy_version(sessions, latest)
        if stored is None:  # removed between the two reads
            return False
        try:
            self.gatekeeper.rules = parse_policy(stored.text, source=f"policy version {latest}")
        except ConfigError as exc:
            self._refused_version = latest
            log.error("stored policy not applied, keeping the running one: %s", exc)
            return False
        self.policy_version = latest
        log.info("policy version %d applied (by %s)", latest, stored.actor)
        return True

    async def refresh_overrides(self) -> bool:
        """Reload the identity overrides when they changed; True when they were replaced."""
        from gate.overrides import effective
        from operator_state.overrides import load_override_view, overrides_revision

        sessions = self._sessions()
        revision = await overrides_revision(sessions)
        if revision == self._overrides_revision:
            return False
        self.gatekeeper.overrides = effective(await load_override_view(sessions))
        self._overrides_revision = revision
        return True

    async def _every(
        self, interval: float, job: Callable[[], Awaitable[object]], what: str
    ) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await job()
            except Exception:  # keep what runs; a database hiccup must not stop the gate
                log.exception("%s failed; keeping the previous state", what)

    async def import_policy_file(self, path: Path, text: str, trigger: str) -> StoredPolicy | None:
        """Store the policy file's ``text`` as a new version, unless it is already what the file
        last gave (or, on SIGHUP, what runs), then apply the newest version here at once.

        Raises ``ConfigError`` when the document does not validate (nothing is stored).
        """
        from operator_state.policy_store import current_policy, policy_history, save_policy

        sessions = self._sessions()
        actor = f"file:{path}"
        # On SIGHUP the operator asks for the file to run, even over a later dashboard edit; a
        # start or a file-watch poll only imports content the file has not given before, so a
        # restart never undoes a dashboard edit and replicas sharing the file import it once.
        if trigger == "sighup":
            last = await current_policy(sessions)
        else:
            previous = await policy_history(sessions, limit=1, actor=actor)
            last = previous[0] if previous else None
        stored = None
        if last is None or last.text != text:
            stored = await save_policy(
                sessions,
                text,
                actor,
                note=trigger,
                source=str(path),
                check=self.gatekeeper.check_rules,
            )
        await self.sync_policy()
        return stored

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.flush_serves()
        finally:
            if self.gatekeeper.decision_log is not None:
                self.gatekeeper.decision_log.close()
            await self.store.close()
            await self.engine.dispose()
            if self._poll_engine is not None:
                await self._poll_engine.dispose()


async def open_runtime(
    config: GateConfig, rules: RuleSource, *, seed: bool = True, store: Store | None = None
) -> Runtime:
    """Start every part; seeds the built-in bank on first start when ``seed`` is true.

    ``store`` replaces the one ``config.store_url`` names (tests isolate runs by key prefix).
    """
    from puzzles.bank import ClueBank
    from puzzles.composer import BankComposer
    from puzzles.db import auto_upgrades, create_engine
    from puzzles.migrations import prepare_schema
    from puzzles.published import load_whole_gates

    config.state_dir.mkdir(parents=True, exist_ok=True)
    keys = load_keyring(
        None if config.signing_key else config.resolved_signing_key_file,
        config.verify_key_files,
        create=config.signing_key_file is None,  # only the embedded default is made on first start
        signing_key=config.signing_key,
        verify_keys=config.verify_keys,
    )
    engine = create_engine(config.resolved_database_url)
    store = store if store is not None else open_store(config.store_url)
    try:
        await store.ping()
        if (risk := await store.restart_risk()) is not None:
            log.warning("%s", risk)
        await prepare_schema(
            engine, auto_upgrade=auto_upgrades(config.db_auto_upgrade, config.resolved_database_url)
        )
        bank = ClueBank(engine)
        seeded = 0
        if seed and await bank.is_empty():
            seeded, _ = await seed_bank(config.resolved_database_url)
        revision = await bank.revision()
        index = await bank.load_index()
        served_out = await bank.served_out(config.serve_limit)
        whole = await load_whole_gates(engine) if config.whole_gates else ()
        # Serving needs no SQL: close the idle pooled connection (aiosqlite keeps a thread polling
        # for work otherwise).  The engine reconnects when the bank is next used.
        await engine.dispose()
        composer = BankComposer(
            index,
            store,
            serve_limit=config.serve_limit,
            served_out=served_out,
            on_dry=config.bank_dry,
            whole_gates=whole,
        )
        gatekeeper = Gatekeeper(store, composer, PassCodec(keys), rules, config.gate)
    except BaseException:
        await store.close()
        await engine.dispose()
        raise
    if config.decision_log:
        try:
            gatekeeper.decision_log = DecisionLog(config.decision_log)
        except OSError as exc:
            await store.close()
            await engine.dispose()
            raise ConfigError(
                f"GATE_DECISION_LOG: cannot open {config.decision_log}: {exc}"
            ) from exc
    if config.bot_keys_dir is not None:
        from gate.botauth import KeyDirectory

        gatekeeper.bot_keys = KeyDirectory.load(config.bot_keys_dir)
    runtime = Runtime(config, store, gatekeeper, engine, seeded, composer, bank)
    runtime.bank_revision = revision
    runtime._poll_engine, runtime.sessions = _operator_sessions(config.resolved_database_url)
    try:
        await runtime.refresh_api_keys()
        if config.policy_file is not None:
            await _watch_policy_file(runtime, config.policy_file)
        await runtime.sync_policy()
        await runtime.refresh_overrides()
    except BaseException:
        await runtime.close()
        raise
    runtime._tasks += [
        asyncio.create_task(runtime._refresh_api_keys_forever()),
        asyncio.create_task(
            runtime._every(config.policy_poll, runtime.sync_policy, "checking the stored policy")
        ),
        asyncio.create_task(
            runtime._every(config.overrides_poll, runtime.refresh_overrides, "loading overrides")
        ),
        # Serve counts reach SQL as they happen, not only at shutdown, so a crash loses at most
        # one interval and a restart does not serve a clue again.
        asyncio.create_task(
            runtime._every(SERVE_FLUSH, runtime.flush_serves, "recording clue serves")
        ),
        asyncio.create_task(
            runtime._every(HEALTH_REFRESH, runtime.refresh_health, "reading bank health")
        ),
        asyncio.create_task(
            runtime._every(BANK_RELOAD, runtime.reload_bank, "reloading the clue bank")
        ),
    ]
    if runtime.watcher is not None:
        runtime._tasks.append(asyncio.create_task(runtime.watcher.run()))
    return runtime


def _operator_sessions(url: str) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """Sessions for the frequent small polls, on their own engine: on SQLite it keeps no idle
    connection (aiosqlite keeps a thread per open one), on PostgreSQL one instead of one per poll."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from puzzles.db import create_engine, session_factory

    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, poolclass=NullPool)
    else:
        engine = create_engine(url, pool_size=1, max_overflow=2)
    return engine, session_factory(engine)


async def _watch_policy_file(runtime: Runtime, path: Path) -> None:
    """Import the policy file into the store now (an invalid file stops the start), and watch it
    for changes; a changed file that does not validate keeps the running policy."""

    async def apply(policy: Policy, text: str, trigger: str) -> None:
        await runtime.import_policy_file(path, text, trigger)

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read policy {path}: {exc}") from exc
    runtime.gatekeeper.check_rules(parse_policy(text, source=str(path)))
    await runtime.import_policy_file(path, text, "startup")
    watcher = PolicyWatcher(path, apply, interval=runtime.config.policy_poll)
    watcher.mark_loaded(text)
    runtime.watcher = watcher
