"""Gates stored whole: a published gate's clue ids in order, its solution and tier.

The import (``puzzles.factory.gate_files.import_gates(whole=True)``) writes them; the composer serves them
as published when it is given them (``BankComposer(whole_gates=load_whole_gates(...))``).  A
:class:`WholeGate` holds ids, not clue texts: the composer resolves the ids against its live index,
so a gate is served only while every one of its clues is servable and under the serve limit, and
its clues reach the public puzzle exactly as composed clues do (no answers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from puzzles.models import PublishedGate, PublishedGateClue, table_of
from puzzles.whole import WholeGate

_gates = table_of(PublishedGate)
_positions = table_of(PublishedGateClue)


def gate_key(solution: str, clue_ids: Sequence[int]) -> str:
    """The dedup key of a stored gate: the same clues in the same order for the same word."""
    raw = f"{solution}:{','.join(map(str, clue_ids))}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


async def store_whole_gate(
    conn: AsyncConnection,
    insert: Any,  # the dialect's insert (ClueBank._insert): ON CONFLICT DO NOTHING
    *,
    solution: str,
    tier: int,
    source: str,
    clue_ids: Sequence[int],
) -> bool:
    """Store one gate; ``False`` when the same gate is already stored."""
    stmt = (
        insert(_gates)
        .values(
            gate_key=gate_key(solution, clue_ids),
            solution=solution,
            length=len(clue_ids),
            tier=tier,
            source=source,
        )
        .on_conflict_do_nothing(index_elements=[_gates.c.gate_key])
        .returning(_gates.c.id)
    )
    gate_id = (await conn.execute(stmt)).scalar()
    if gate_id is None:
        return False
    await conn.execute(
        _positions.insert(),
        [{"gate_id": gate_id, "position": i, "clue_id": cid} for i, cid in enumerate(clue_ids)],
    )
    return True


async def load_whole_gates(engine: AsyncEngine) -> tuple[WholeGate, ...]:
    """Every stored gate that is not retired (servability of its clues is the composer's check)."""
    async with engine.connect() as conn:
        gates = (
            await conn.execute(
                select(_gates.c.id, _gates.c.tier, _gates.c.solution, _gates.c.length)
                .where(_gates.c.retired.is_(False))
                .order_by(_gates.c.id)
            )
        ).all()
        rows = (
            await conn.execute(
                select(_positions.c.gate_id, _positions.c.clue_id).order_by(
                    _positions.c.gate_id, _positions.c.position
                )
            )
        ).all()
    ids: dict[int, list[int]] = {}
    for gate_id, clue_id in rows:
        ids.setdefault(gate_id, []).append(clue_id)
    return tuple(
        WholeGate(gate_id, tier, solution, tuple(ids.get(gate_id, ())))
        for gate_id, tier, solution, length in gates
        # A clue deleted from the bank takes its position with it: such a gate is incomplete.
        if len(ids.get(gate_id, ())) == length == len(solution)
    )


__all__ = ["WholeGate", "gate_key", "load_whole_gates", "store_whole_gate"]
