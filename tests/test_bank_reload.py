"""A live gate picks up clues added to (or retired from) the bank without a restart."""

from __future__ import annotations

from pathlib import Path

from gate.config import GateConfig
from gate.rules import RuleSet
from puzzles.draft import ClueDraft
from serving.runtime import open_runtime


def _drafts(n: int, tier: int) -> list[ClueDraft]:
    return [
        ClueDraft(
            "Testing", f"Refilled question number {i} of tier {tier}", f"Vorath{i}", tier, "t"
        )
        for i in range(n)
    ]


async def test_a_running_gate_reloads_its_index_when_the_bank_changes(tmp_path: Path) -> None:
    runtime = await open_runtime(GateConfig.from_env({}, state_dir=tmp_path), RuleSet([]))
    try:
        before = runtime.composer.index.clue_count
        assert not await runtime.reload_bank()  # nothing changed: the index is kept

        await runtime.bank.add_clues(_drafts(7, 2))  # what a refill or an import does
        assert await runtime.reload_bank()
        assert runtime.composer.index.clue_count == before + 7
        assert not await runtime.reload_bank()

        # Another replica served a clue up to the limit and SQL knows: it is not offered here.
        clue_id = next(iter(runtime.composer.index.clues[2]["v"])).clue_id
        await runtime.bank.record_serves({clue_id: runtime.config.serve_limit})
        await runtime.bank.retire_exhausted(runtime.config.serve_limit)
        assert await runtime.reload_bank()
        assert runtime.composer.index.clue_count == before + 6
        assert runtime.composer._clue(clue_id) is None
    finally:
        await runtime.close()
