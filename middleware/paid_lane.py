"""Repeats of a paid request, served from the pass's lease without deciding them again.

A client spending a pass sends the same request again and again: the same headers (its pass
among them), from the same address, for the same path.  Every input of the decision is then
the same as last time, so the rule, the identity and the pass's binding to both are too; what
can differ is the state around it (rules, keys, overrides, settings: the gatekeeper's
``stamp``), the clock (the pass's expiry), an operator's block, and the budget.
``Gatekeeper.again`` checks exactly those and takes the use from the pass's lease (gate.leases,
``GATE_PASS_LEASE``): where it cannot (no lease, or anything changed) the request is decided in
full, as every request is without leases.  No use is ever served that was not charged to the
shared meter first, so the lease bounds hold as they are.

Kept by the exact (path, raw path, method, peer, header list) of the request that was allowed:
only header lists the request contexts keep (``MEMO_HEADER_BYTES``), at most ``LANE_SIZE``
requests, the oldest dropped first.  Requests signed as a bot (``Signature-Input``) are never
kept: their signature must be checked each time.
"""

from __future__ import annotations

from dataclasses import dataclass

from gate.gatekeeper import Allow, Gatekeeper

__all__ = ["LANE_SIZE", "PaidLane"]

LANE_SIZE = 4_096

LaneKey = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class _Paid:
    decision: Allow
    rule_name: str
    stamp: tuple[object, ...]


class PaidLane:
    def __init__(self, gatekeeper: Gatekeeper) -> None:
        self.gatekeeper = gatekeeper
        self._memo: dict[LaneKey, _Paid] = {}

    def serve(self, key: LaneKey) -> Allow | None:
        """The decision for a repeat of a request kept under ``key``, or None (decide it)."""
        paid = self._memo.get(key)
        if paid is None:
            return None
        return self.gatekeeper.again(paid.decision, paid.rule_name, paid.stamp)

    def remember(
        self, key: LaneKey, decision: Allow, rule_name: str, stamp: tuple[object, ...]
    ) -> None:
        """Keep an Allow ``decide`` just made on a pass, with the ``stamp`` of the state taken
        before it was decided (a change during its round trip then misses, never hits)."""
        if decision.claims is None or decision.dry_run is not None:
            return
        if key not in self._memo and len(self._memo) >= LANE_SIZE:
            del self._memo[next(iter(self._memo))]
        self._memo[key] = _Paid(decision, rule_name, stamp)
