"""Prices: the rate multiplier curve, and how a price in expected solver tokens becomes a puzzle.

The multiplier is piecewise linear in the identity's request rate (requests per window), so a person
browsing at human speed pays the base price while a flood pays many times over.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from gate.errors import ConfigError
from gate.puzzle import TIERS, PuzzleSpec

MIN_WORD, MAX_WORD = 4, 12
MAX_GATES = 6
# Expected solver tokens per clue at each tier until the clue's calibrated cost is known.
TIER_COST = {1: 150, 2: 300, 3: 600}


@dataclass(frozen=True)
class RateCurve:
    points: tuple[tuple[float, float], ...] = (
        (0, 1.0),
        (30, 1.0),
        (120, 2.0),
        (600, 8.0),
        (3000, 32.0),
    )

    def __post_init__(self) -> None:
        rates = [rate for rate, _ in self.points]
        multipliers = [mult for _, mult in self.points]
        if not self.points or rates != sorted(rates) or multipliers != sorted(multipliers):
            raise ConfigError("rate curve needs ascending rates and non-decreasing multipliers")
        if multipliers[0] < 1:
            raise ConfigError("rate curve multipliers must be at least 1")

    @classmethod
    def parse(cls, text: str) -> RateCurve:
        """'0:1,30:1,120:2,600:8' -> RateCurve."""
        try:
            points = tuple(
                (float(rate), float(mult))
                for rate, mult in (item.split(":") for item in text.split(",") if item.strip())
            )
        except ValueError as exc:
            raise ConfigError(
                f"invalid rate curve {text!r}; expected 'rate:multiplier,...'"
            ) from exc
        return cls(points)

    def multiplier(self, rate: float) -> float:
        rates = [point[0] for point in self.points]
        index = bisect.bisect_right(rates, rate)
        if index == 0:
            return self.points[0][1]
        if index == len(self.points):
            return self.points[-1][1]
        (r0, m0), (r1, m1) = self.points[index - 1], self.points[index]
        return m0 + (m1 - m0) * (rate - r0) / (r1 - r0)

    def max_rate(self, multiplier: float) -> float:
        """The highest rate whose multiplier does not exceed ``multiplier`` (inf: never)."""
        if multiplier < self.points[0][1]:
            return -math.inf
        for (r0, m0), (r1, m1) in zip(self.points, self.points[1:], strict=False):
            if m1 > multiplier:
                return r0 + (multiplier - m0) * (r1 - r0) / (m1 - m0)
        return math.inf


def max_puzzle_price(tier: int) -> int:
    """The most a single challenge can cost at ``tier``: every gate a longest word."""
    return MAX_GATES * MAX_WORD * TIER_COST[tier]


def puzzle_spec(price: int, tier: int) -> PuzzleSpec:
    """The smallest puzzle whose expected solve cost reaches ``price`` at ``tier``.

    Clues are filled into as few hidden words as possible (longer words first), so a higher price
    means longer words, then more gates.
    """
    if tier not in TIERS:
        raise ConfigError(f"tier must be one of {TIERS}")
    clues = max(MIN_WORD, math.ceil(price / TIER_COST[tier]))
    gates = min(MAX_GATES, math.ceil(clues / MAX_WORD))
    length = min(MAX_WORD, max(MIN_WORD, math.ceil(clues / gates)))
    return PuzzleSpec(gates=gates, length=length, tier=tier)


def sliding_rate(current: int, previous: int, window: float, now: float) -> float:
    """Requests in the last ``window`` seconds, estimated from two fixed-window counters."""
    elapsed = (now % window) / window
    return current + previous * (1.0 - elapsed)


def seconds_until(current: int, previous: int, window: float, now: float, limit: float) -> float:
    """How long a client that stops now must wait until ``sliding_rate`` is at most ``limit``."""
    elapsed = now % window
    if current <= limit:
        if previous <= 0:
            return 0.0
        # Within this window the previous window's weight decays linearly to zero.
        needed = 1.0 - (limit - current) / previous
        return max(0.0, needed * window - elapsed)
    # Past this window, today's count becomes "previous" and decays through the next one.
    return (window - elapsed) + window * (1.0 - max(0.0, limit) / current)
