"""Serving gates whole: which live published gates a puzzle gets (no SQL, no model call).

A :class:`WholeGate` names its clues by id; at serve time each id is resolved against the
composer's live pools, so a gate whose clue was retired, left unverified or served up to the limit
is not served.  The length nearest to the one asked for wins (ties: the longer, never cheaper than
asked), randomly among gates of that length; the gates of one puzzle share no clue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gate.puzzle import PublicClue, PublicGate, PuzzleSpec


@dataclass(frozen=True, slots=True)
class WholeGate:
    gate_id: int
    tier: int
    solution: str  # the hidden word: server-side only
    clue_ids: tuple[int, ...]  # in order: clue i's answer starts with solution[i]

    def __repr__(self) -> str:  # the solution stays out of logs
        return f"WholeGate(id={self.gate_id}, length={len(self.clue_ids)}, tier={self.tier})"


def whole_by_tier(gates: Sequence[WholeGate]) -> Mapping[int, tuple[WholeGate, ...]]:
    by_tier: dict[int, list[WholeGate]] = {}
    for gate in gates:
        by_tier.setdefault(gate.tier, []).append(gate)
    return {tier: tuple(group) for tier, group in by_tier.items()}


def pick_whole(
    gates: Sequence[WholeGate],
    spec: PuzzleSpec,
    live: Callable[[int], PublicClue | None],
    random: Callable[[], float],
) -> list[tuple[WholeGate, PublicGate]] | None:
    """``spec.gates`` live gates sharing no clue, nearest ``spec.length`` first; or ``None``."""
    candidates: list[tuple[tuple[int, int, float], WholeGate, PublicGate]] = []
    for gate in gates:
        clues = [live(clue_id) for clue_id in gate.clue_ids]
        if all(clue is not None for clue in clues):
            n = len(clues)
            order = (abs(n - spec.length), -n, random())
            candidates.append((order, gate, PublicGate(tuple(c for c in clues if c is not None))))
    candidates.sort(key=lambda item: item[0])
    chosen: list[tuple[WholeGate, PublicGate]] = []
    used: set[int] = set()
    for _, gate, public in candidates:
        if used.isdisjoint(gate.clue_ids):
            chosen.append((gate, public))
            used.update(gate.clue_ids)
            if len(chosen) == spec.gates:
                return chosen
    return None


__all__ = ["WholeGate", "pick_whole", "whole_by_tier"]
