"""Refill: keep every tier above the low-water mark, from the offline sources and the factory.

One round (``refill_once``) rotates first (clues at the serve limit are retired, so the figures say
what can really be served), then, for each tier below the mark, adds what the offline sources have
that the bank lacks (the fact graph; its texts are deduplicated, so this only adds what is missing)
and, when a model is configured, runs a factory job for the rest. Factory jobs live in SQL, so a
round cut off by a restart resumes the same job; ``refill_watch`` runs rounds on an interval.

The offline build takes a minute or two of CPU, and a source that added nothing once will add
nothing again until the code or data changes: a watch remembers that per tier and skips it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from puzzles.bank import ClueBank
from puzzles.health import BankHealth, bank_health

if TYPE_CHECKING:
    from puzzles.factory import ChatPool
    from puzzles.factory.generate import Target
    from puzzles.factory.jobs import GenerateSettings
    from puzzles.factory.verify import Solver
    from puzzles.knowledge.facts import Fact

log = logging.getLogger("reasoning_gate.refill")

# (engine, tier, clues wanted) -> clues the factory added; a resumable factory job.
Factory = Callable[[AsyncEngine, int, int], Awaitable[int]]
# (tiers) -> clues added from the offline sources, per tier.
Offline = Callable[[set[int]], Awaitable[dict[int, int]]]


@dataclass(slots=True)
class RefillRound:
    retired: int = 0
    before: BankHealth | None = None
    after: BankHealth | None = None
    offline_added: dict[int, int] = field(default_factory=dict)
    factory_added: dict[int, int] = field(default_factory=dict)
    still_low: tuple[int, ...] = ()  # tiers below the mark after the round: say so loudly

    @property
    def added(self) -> dict[int, int]:
        """Clues added per tier, offline and factory together."""
        both = dict(self.offline_added)
        for tier, n in self.factory_added.items():
            both[tier] = both.get(tier, 0) + n
        return both


@dataclass(slots=True)
class Refiller:
    engine: AsyncEngine
    serve_limit: int
    low_water: int
    offline: Offline | None
    factory: Factory | None = None
    offline_spent: set[int] = field(default_factory=set)  # tiers the offline sources cannot grow

    async def refill_once(self) -> RefillRound:
        done = RefillRound()
        done.retired = await ClueBank(self.engine).retire_exhausted(self.serve_limit)
        done.before = await bank_health(self.engine, self.serve_limit, self.low_water)
        low = {t.tier: t.fresh for t in done.before.low()}
        offline_tiers = set(low) - self.offline_spent
        if offline_tiers and self.offline is not None:
            done.offline_added = await self.offline(offline_tiers)
            self.offline_spent |= {t for t in offline_tiers if not done.offline_added.get(t)}
        if self.factory is not None:
            for tier, fresh in sorted(low.items()):
                wanted = self.low_water - fresh - done.offline_added.get(tier, 0)
                if wanted > 0:
                    done.factory_added[tier] = await self.factory(self.engine, tier, wanted)
        done.after = await bank_health(self.engine, self.serve_limit, self.low_water)
        done.still_low = tuple(t.tier for t in done.after.low())
        return done

    async def watch(self, interval: float, stop: asyncio.Event) -> None:
        """Refill every ``interval`` seconds until ``stop``; a failed round is logged, not fatal."""
        while not stop.is_set():
            try:
                done = await self.refill_once()
            except Exception:  # a database hiccup must not end the watch
                log.exception("refill round failed; trying again in %.0f s", interval)
            else:
                log_round(done, factory=self.factory is not None)
            await self.engine.dispose()  # no idle connection between rounds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def log_round(done: RefillRound, *, factory: bool) -> None:
    added = done.added
    if done.retired or any(added.values()):
        log.info(
            "refill: retired %d exhausted clues; added %s",
            done.retired,
            ", ".join(f"tier {t}: {n}" for t, n in sorted(added.items()) if n) or "nothing",
        )
    if done.still_low:
        log.warning(
            "refill: tier(s) %s still below the low-water mark; %s",
            ", ".join(map(str, done.still_low)),
            "the factory will add more next round"
            if factory
            else "the offline sources are spent: configure a model (GATE_LLM_BACKENDS) or import clues",
        )


def graph_offline(database_url: str) -> Offline:
    """The offline source: the fact-graph bank, generated in a worker thread, stored deduplicated."""

    async def add(tiers: set[int]) -> dict[int, int]:
        from puzzles.knowledge.graph_build import generate, store

        drafts, _ = await asyncio.to_thread(generate, tiers)
        result = await store(database_url, drafts, words=False)
        return {tier: result.added.get(tier, 0) for tier in tiers}

    return add


def factory_refill(
    pool: ChatPool,
    solvers: Sequence[Solver],
    *,
    settings: GenerateSettings | None = None,
    facts: Sequence[Fact] | None = None,
) -> Factory:
    """The factory as a refill step: a grounded generation job per low tier.

    The job's parameters name the tier but not the count, so a round cut off midway resumes the
    same job next time (``find_or_create_job``) instead of leaving it half done beside a new one.
    """
    from puzzles.factory.generate import grounded_targets
    from puzzles.factory.jobs import GenerateSettings, llm_answers, run_generate_job

    chosen = settings or GenerateSettings()

    async def run(engine: AsyncEngine, tier: int, wanted: int) -> int:
        async def targets(engine_: AsyncEngine) -> list[Target]:
            exclude = await llm_answers(engine_)
            return grounded_targets(wanted, facts=facts, tiers=(tier,), exclude=exclude)

        report = await run_generate_job(
            engine,
            pool,
            solvers,
            targets,
            params={"refill": tier, "mode": "grounded", "verify": chosen.verify},
            settings=chosen,
        )
        return report.accepted

    return run
