"""The bounded in-process structures a long-running gateway fills, measured: bytes per entry and
the bound in MiB (what the soak's resident memory may still grow by after its warm-up).

- the pass cache (``PassCodec``, verified tokens, 65,536 entries): fills with distinct passes;
- the composer's per-clue serve state (withdrawn clues and their homes): fills as fresh clues are
  served, bounded by the bank's clue count;
- the composer's reuse index over the whole bank, built once when the bank first runs dry.

Traced by tracemalloc (Python objects only; the allocator's own overhead comes on top).

    python bench/memory_bounds.py                 # over the state directory's bank
    GATE_STATE_DIR=DIR python bench/memory_bounds.py   # a built bank (gate puzzles build)
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gate.config import GateConfig
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.store import MemoryStore

MiB = 1 << 20


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def pass_cache(entries: int = 20_000) -> dict[str, Any]:
    codec = PassCodec(KeyRing.generate())
    tokens = [
        codec.mint(subject=f"net:192.0.{n % 250}.0/24", scope="/articles/", rule="articles",
                   budget=5, price=1500, ttl=600, epoch="e")[0]
        for n in range(entries)
    ]  # fmt: skip
    before = traced()
    for token in tokens:
        codec.verify(token)
    per_entry = (traced() - before) / entries
    bound = codec._cache_size
    return {"entries_measured": entries, "bytes_per_entry": round(per_entry), "bound_entries": bound,
            "bound_mib": round(per_entry * bound / MiB, 1)}  # fmt: skip


async def composer_state() -> dict[str, Any]:
    from puzzles.bank import ClueBank
    from puzzles.composer import BankComposer
    from puzzles.db import create_engine

    engine = create_engine(GateConfig.from_env().resolved_database_url)
    index = await ClueBank(engine).load_index()
    await engine.dispose()
    ids = [clue.clue_id for by_letter in index.clues.values() for pool in by_letter.values()
           for clue in pool]  # fmt: skip
    composer = BankComposer(index, MemoryStore(), serve_limit=1)
    before = traced()
    reuser = BankComposer(index, MemoryStore(), serve_limit=2**62)  # what the first dry builds
    reuse_index = traced() - before
    before = traced()
    for clue_id in ids:  # every clue served to the limit: the most this state can hold
        composer._drop(clue_id)
    served_out = traced() - before
    del reuser
    return {"clues": len(ids), "reuse_index_mib": round(reuse_index / MiB, 1),
            "all_served_out_mib": round(served_out / MiB, 1),
            "bytes_per_served_clue": round(served_out / max(1, len(ids)))}  # fmt: skip


def main() -> dict[str, Any]:
    tracemalloc.start()
    return {"pass_cache": pass_cache(), "composer": asyncio.run(composer_state())}


if __name__ == "__main__":
    for name, value in main().items():
        print(f"{name}: {value}")
