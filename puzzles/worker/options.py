"""The worker's engine settings, shared by both engines (``engine``: transformers'; ``fast``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

CPU_CACHE = {"block_size": 32, "num_blocks": 256, "max_batch_tokens": 512}


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Engine settings; None leaves the engine's own choice (sized from free memory on a GPU)."""

    engine: str = "fast"  # "fast" (puzzles.worker.fast) or "transformers" (puzzles.worker.engine)
    scheduler: str = "vtc"
    sampling: bool = True
    block_size: int | None = None  # tokens per cache page
    num_blocks: int | None = None
    max_batch_tokens: int | None = None
    max_requests_per_batch: int | None = None
    cuda_graphs: bool | None = None
    async_batching: bool | None = None
    compile_level: int = 0
    max_memory_percent: float | None = None  # share of free GPU memory for the KV cache
    ignore_eos: bool = False  # benchmarks: every request runs to max_tokens
    w_in: float = 1.0
    w_out: float = 2.0
    # The fast engine only: "auto" (Triton on a GPU, torch on a CPU), "triton" or "torch"
    # (the reference); preempting the most-served tenant for an owed one when slots run out.
    attention: str = "auto"
    preemption: bool = True

    def for_device(self, device: str) -> EngineOptions:
        """On a CPU the engine would size its cache from free RAM (gigabytes): 8192 tokens of
        cache (``CPU_CACHE``) are plenty there, unless set explicitly."""
        if not device.startswith("cpu"):
            return self
        unset: dict[str, Any] = {k: v for k, v in CPU_CACHE.items() if getattr(self, k) is None}
        return replace(self, **unset)
