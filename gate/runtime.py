"""The composition root: build a working gate (store, clue bank, keys, gatekeeper) from a config.

This is the one module of ``gate`` that knows the concrete parts (the SQL bank in ``puzzles``); the
core modules only know their contracts.  Adapters (middleware, demo, MCP) start here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gate.config import GateConfig
from gate.gatekeeper import Gatekeeper
from gate.keys import load_keyring
from gate.passes import PassCodec
from gate.policy import Policy, parse_policy
from gate.policy_watch import PolicyWatcher
from gate.rules import RuleSource
from gate.store import Store, open_store

log = logging.getLogger("reasoning_gate")
API_KEY_REFRESH = 30.0  # seconds

if TYPE_CHECKING:  # the concrete parts are imported lazily: `gate --help` must stay instant
    from sqlalchemy.ext.asyncio import AsyncEngine

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
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def flush_serves(self) -> None:
        """Add the clues served since the last flush to the bank's ``times_served``.

        The live per-clue limit is enforced in the store; this keeps SQL's history in step.
        """
        await self.bank.record_serves(self.composer.served_counts())

    async def refresh_api_keys(self) -> None:
        """Load the active API keys; keys created or revoked elsewhere apply within a minute."""
        from puzzles.apikeys import active_api_keys

        self.gatekeeper.api_keys = await active_api_keys(self.engine)
        await self.engine.dispose()  # see open_runtime: no idle SQL connection while serving

    async def _refresh_api_keys_forever(self, interval: float = API_KEY_REFRESH) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh_api_keys()
            except Exception:  # keep the last good list; a database hiccup must not stop the gate
                log.exception("refreshing API keys failed; keeping the previous list")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.flush_serves()
        finally:
            await self.store.close()
            await self.engine.dispose()


async def seed_bank(database_url: str) -> tuple[int, int]:
    """Create the schema and add the built-in clues and word list; idempotent.

    Returns (clues added, words added).
    """
    from puzzles.bank import ClueBank
    from puzzles.db import create_engine, create_schema
    from puzzles.knowledge import builtin_clues
    from puzzles.words import load_words

    engine = create_engine(database_url)
    try:
        await create_schema(engine)
        report = await ClueBank(engine).seed(builtin_clues(), load_words())
        return report.clues.added, report.words_added
    finally:
        await engine.dispose()


async def open_runtime(
    config: GateConfig, rules: RuleSource, *, seed: bool = True, store: Store | None = None
) -> Runtime:
    """Start every part; seeds the built-in bank on first start when ``seed`` is true.

    ``store`` replaces the one ``config.store_url`` names (tests isolate runs by key prefix).
    """
    from puzzles.bank import ClueBank
    from puzzles.composer import BankComposer
    from puzzles.db import auto_upgrades, create_engine, prepare_schema

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
        await prepare_schema(
            engine, auto_upgrade=auto_upgrades(config.db_auto_upgrade, config.resolved_database_url)
        )
        bank = ClueBank(engine)
        seeded = 0
        if seed and await bank.is_empty():
            seeded, _ = await seed_bank(config.resolved_database_url)
        index = await bank.load_index()
        # Serving needs no SQL: close the idle pooled connection (aiosqlite keeps a thread polling
        # for work otherwise).  The engine reconnects when the bank is next used.
        await engine.dispose()
        composer = BankComposer(index, store, serve_limit=config.serve_limit)
        gatekeeper = Gatekeeper(store, composer, PassCodec(keys), rules, config.gate)
    except BaseException:
        await store.close()
        await engine.dispose()
        raise
    if config.bot_keys_dir is not None:
        from gate.botauth import KeyDirectory

        gatekeeper.bot_keys = KeyDirectory.load(config.bot_keys_dir)
    runtime = Runtime(config, store, gatekeeper, engine, seeded, composer, bank)
    await runtime.refresh_api_keys()
    runtime._tasks.append(asyncio.create_task(runtime._refresh_api_keys_forever()))
    if config.policy_file is not None:
        try:
            await _start_policy(runtime, config.policy_file)
        except BaseException:
            await runtime.close()
            raise
    return runtime


async def _start_policy(runtime: Runtime, path: Path) -> None:
    """Apply the policy file (it replaces the code's rules) and watch it for changes."""
    from gate.errors import ConfigError
    from puzzles.audit import record_policy_change

    async def apply(policy: Policy, text: str, actor: str) -> None:
        runtime.gatekeeper.rules = policy  # validates prices; raises ConfigError to refuse
        await record_policy_change(
            runtime.engine, digest=policy.digest, source=str(path), actor=actor, document=text
        )

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read policy {path}: {exc}") from exc
    await apply(parse_policy(text, source=str(path)), text, "startup")
    watcher = PolicyWatcher(path, apply)
    watcher.mark_loaded(text)
    runtime.watcher = watcher
    runtime._tasks.append(asyncio.create_task(watcher.run()))
