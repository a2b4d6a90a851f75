"""The asymmetry of a clue bank: what a gate costs to make versus what it costs to solve.

Run: ``.venv/bin/python bench/asymmetry.py [--database-url URL] [--gate-length 6]``.

Make cost: the factory's generation + verification tokens per accepted clue (rejected attempts
included), times the gate length.  Solve cost: the expected solver tokens of the servable clues
(calibrated where a calibration job measured them, else the tier default), times the gate length.
The ratio is solve / make per tier.  Making is paid once per clue, solving on every serve, so the
operator's real advantage is this ratio times the number of times a clue is served (the serve
limit, ``GATE_SERVE_LIMIT``), which is printed too.  Every number says which models produced it.
"""

from __future__ import annotations

import argparse
import asyncio

from gate.config import GateConfig
from puzzles.db import create_engine
from puzzles.factory.costs import factory_costs, tier_costs
from puzzles.migrations import create_schema


async def report(url: str, length: int, serve_limit: int) -> None:
    engine = create_engine(url)
    try:
        await create_schema(engine)
        costs = await factory_costs(engine)
        tiers = await tier_costs(engine)
    finally:
        await engine.dispose()
    per_clue = costs.tokens_per_accepted
    makers = ", ".join(costs.generator_models) or "none"
    checkers = ", ".join(costs.solver_models) or "none"
    references = ", ".join(costs.reference_models) or "none (tier defaults)"
    print(f"bank: {url}")
    print(f"gate length: {length} clues; serve limit: {serve_limit} serves per clue")
    if per_clue is None:
        print("make: no accepted LLM clue yet (run `gate puzzles generate`)")
    else:
        print(
            f"make: {per_clue:,.0f} tokens per accepted clue over {costs.accepted} clues and "
            f"{costs.attempts} attempts (generation {costs.gen_usage.total:,}, verification "
            f"{costs.verify_usage.total:,}); generator: {makers}; verifiers: {checkers}"
        )
    print(
        f"solve: expected solver tokens per clue (calibrated by: {references}; "
        f"calibration spent {costs.calibrate_usage.total:,} tokens)"
    )
    print(
        f"{'tier':>4} {'clues':>7} {'calib.':>7} {'solve/gate':>11} {'make/gate':>10} "
        f"{'ratio':>7} {'ratio x serves':>15}"
    )
    for tier in tiers:
        solve = tier.per_gate(length)
        make = per_clue * length if per_clue else None
        ratio = solve / make if make else None
        print(
            f"{tier.tier:>4} {tier.clues:>7} {tier.calibrated:>7} {solve:>11,.0f} "
            f"{'-' if make is None else f'{make:,.0f}':>10} "
            f"{'-' if ratio is None else f'{ratio:.3f}':>7} "
            f"{'-' if ratio is None else f'{ratio * serve_limit:,.1f}':>15}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: GATE_DATABASE_URL/state")
    parser.add_argument("--gate-length", type=int, default=6)
    args = parser.parse_args()
    config = GateConfig.from_env(database_url=args.database_url)
    asyncio.run(report(config.resolved_database_url, args.gate_length, config.serve_limit))


if __name__ == "__main__":
    main()
