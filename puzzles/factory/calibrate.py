"""Calibration: a clue's tier and expected solve cost from reference solvers.

Each reference solver answers the clue ``samples`` times, reasoning first (so the tokens are those
a solver really spends), without seeing the answer.  From all ``n`` attempts, ``s`` of them
correct, and ``t̄`` the mean generated (completion) tokens per attempt:

    p̂ = (s + ½) / (n + 1)                       success rate, Jeffreys-smoothed
    expected_tokens = ceil(t̄ / p̂)              tokens to a first correct answer
    tier = max(tier by expected_tokens, tier by success rate)

``t̄ / p̂`` is the mean of a geometric number of attempts, each costing ``t̄``: a solver that fails
retries, so a clue solved half the time costs twice its per-attempt tokens.  Smoothing keeps one
lucky or unlucky attempt from giving p̂ = 1 or 0 (division by zero for clues nobody solved; they
get a finite, high cost instead).  Only completion tokens count: the prompt is the clue, which the
operator pays to send, not the solver to think.

Tier by tokens uses the geometric midpoints between the bank's default tier costs
(``puzzles.models.TIER_EXPECTED_TOKENS``: 150, 300, 600 -> bounds 212 and 424); tier by success
rate makes a clue that reference models often miss hard whatever its length: p < 0.9 is at least
tier 2, p < 0.6 tier 3.  Prices are expressed in ``expected_tokens``, so they follow the models
used for calibration; the stats say which models those were.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from puzzles.factory import Usage
from puzzles.factory.verify import Attempt, Solver, solve
from puzzles.models import TIER_EXPECTED_TOKENS

TOKEN_BOUNDS: Final = (
    math.sqrt(TIER_EXPECTED_TOKENS[1] * TIER_EXPECTED_TOKENS[2]),
    math.sqrt(TIER_EXPECTED_TOKENS[2] * TIER_EXPECTED_TOKENS[3]),
)
SUCCESS_BOUNDS: Final = (0.9, 0.6)


@dataclass(frozen=True, slots=True)
class Calibration:
    tier: int
    expected_tokens: int
    success_rate: float  # raw s / n
    mean_tokens: float  # t̄, completion tokens per attempt
    attempts: tuple[Attempt, ...]

    @property
    def usage(self) -> Usage:
        return sum((a.usage for a in self.attempts), Usage())

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.model for a in self.attempts))


def tier_for(expected_tokens: float, success_rate: float) -> int:
    by_tokens = 1 + sum(expected_tokens >= bound for bound in TOKEN_BOUNDS)
    by_success = 1 + sum(success_rate < bound for bound in SUCCESS_BOUNDS)
    return max(by_tokens, by_success)


def summarise(attempts: Sequence[Attempt]) -> Calibration:
    """Apply the formula of the module docstring to graded attempts."""
    if not attempts:
        raise ValueError("calibration needs at least one attempt")
    n = len(attempts)
    s = sum(a.correct for a in attempts)
    mean_tokens = sum(a.usage.completion_tokens for a in attempts) / n
    p_hat = (s + 0.5) / (n + 1)
    expected = max(1, math.ceil(mean_tokens / p_hat))
    rate = s / n
    return Calibration(tier_for(expected, rate), expected, rate, mean_tokens, tuple(attempts))


async def calibrate_clue(
    solvers: Sequence[Solver],
    *,
    domain: str,
    text: str,
    answer: str,
    tags: Any,
    samples: int = 1,
    max_tokens: int = 512,
    temperature: float = 0.0,
) -> Calibration:
    """Have every reference solver try the clue ``samples`` times and summarise.

    Attempts run one after another per clue (clues run concurrently in the job), so the pool's
    per-backend cap, not this function, bounds the load.
    """
    attempts: list[Attempt] = []
    for solver in solvers:
        for _ in range(samples):
            attempts.append(
                await solve(
                    solver,
                    domain=domain,
                    text=text,
                    expected=answer,
                    tags=tags,
                    reasoning=True,
                    max_tokens=max_tokens,
                    # Repeated samples at 0.0 are identical on most servers: use > 0 with samples > 1.
                    temperature=temperature,
                )
            )
    return summarise(attempts)
