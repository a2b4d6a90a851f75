"""The fast engine's forward pass: a transformers decoder's own modules, our attention and KV cache.

Every step runs one packed forward over all the tokens the scheduler picked: decodes first (one
token each), then prefill chunks.  The model's projections, norms, rotary table and MLPs are the
transformers modules themselves (so the weights and numerics are the model's), while attention
and the cache are ours:

- the KV cache is one tensor per layer of fixed *slots* (one per running sequence) of the model's
  whole context, ``[slots + 1, kv_heads, context, head_dim]`` (the last slot is scratch for
  padding rows): no page tables, and a preempted sequence frees its slot at once;
- attention on a GPU is one Triton kernel (``puzzles.worker.triton_decode``) for every token of
  the step, decode or prefill alike: each token's keys and values are written to its slot first,
  then each token attends as one query over its slot's cached positions up to its own, which is
  exactly causal attention for a prefill chunk (whatever it has cached before) and needs nothing
  but per-token slots and lengths on the device;
- so on a GPU every step, prefill or not, replays a CUDA graph captured per token-count bucket
  (padding tokens write and read the scratch slot): one launch and one host sync (the sampled
  tokens) instead of ~330 launches, which made a step with prefill cost ~25 ms of host time;
- the reference path (``attention="torch"``, the CPU's) runs eagerly: decode attention as a
  masked batched softmax, prefill chunks through ``scaled_dot_product_attention`` (never cuDNN,
  which re-plans per shape), equal-length fresh prompts in one call.

Architectures: decoder-only models whose layers look like Llama's (``self_attn.{q,k,v,o}_proj``,
``input_layernorm``, ``post_attention_layernorm``, ``mlp``, optional ``q_norm``/``k_norm``): Llama,
Mistral, Qwen2, Qwen3.  ``supported`` says whether a model qualifies.

Over 400 lines because the forward pass, its cache and its graph capture are one piece: the
graphs capture exactly the eager step, so splitting them would put one algorithm in two files.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

_PREFILL_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
_DECODE_BUCKETS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256, 320, 384, 448, 512)
_PREFILL_BUCKETS = (640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096)
GRAPH_BUCKETS = _DECODE_BUCKETS + _PREFILL_BUCKETS  # tokens a step's graph runs


def supported(model: Any) -> str | None:
    """None when the fast engine can run ``model``, else why not."""
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if inner is None or layers is None or not hasattr(inner, "rotary_emb"):
        return "not a Llama-style decoder (model.model.layers, rotary_emb)"
    config = model.config
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return "sliding-window attention"
    attn = layers[0].self_attn
    if not all(hasattr(attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")):
        return "attention without q/k/v/o projections"
    return None


@dataclass(slots=True)
class Segment:
    """Part of one sequence in a step: ``count`` tokens from position ``start`` in slot ``slot``."""

    slot: int
    start: int
    count: int
    logits: bool  # the step's output for the segment's last token is wanted (a next token)


@dataclass(slots=True)
class _Plan:
    tokens: torch.Tensor
    positions: torch.Tensor
    slots: torch.Tensor
    rows: torch.Tensor
    decodes: int  # tokens that attend as single queries over their slot: all of them when packed
    longest: int  # the longest such query's length (the reference attention's gather width)
    fresh: list[torch.Tensor] = field(default_factory=list)  # [prompts, length] token offsets
    chunks: list[tuple[int, Segment, torch.Tensor]] = field(default_factory=list)


@dataclass(slots=True)
class StepInput:
    tokens: list[int] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)  # decodes (count 1) first

    def add(self, slot: int, start: int, tokens: Sequence[int], logits: bool) -> None:
        self.tokens.extend(tokens)
        self.segments.append(Segment(slot, start, len(tokens), logits))


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def reference_decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slots: torch.Tensor,
    lengths: torch.Tensor,
    scale: float,
    longest: int,
) -> torch.Tensor:
    """Decode attention in plain torch: gather each sequence's first ``longest`` positions, mask
    past its length, softmax in float32.  The CPU path and the device check's reference."""
    batch, heads, dim = q.shape
    kv_heads = k_cache.shape[1]
    keys = k_cache[slots, :, :longest].float()  # [B, KV, L, D]
    values = v_cache[slots, :, :longest].float()
    grouped = q.float().view(batch, kv_heads, heads // kv_heads, dim)
    scores = torch.matmul(grouped, keys.transpose(-1, -2)) * scale  # [B, KV, G, L]
    positions = torch.arange(longest, device=q.device)
    past = positions >= lengths[:, None, None, None]  # [B, 1, 1, L]
    scores = scores.masked_fill(past, float("-inf"))
    values = values.masked_fill(past.transpose(-1, -2), 0.0)  # unwritten cache may hold NaN
    out = torch.matmul(torch.softmax(scores, dim=-1), values)
    return out.view(batch, heads, dim).to(q.dtype)


class Runner:
    """Owns the KV cache and runs packed steps; one instance per engine thread."""

    def __init__(
        self,
        model: Any,
        *,
        slots: int,
        context: int,
        attention: str = "auto",
        cuda_graphs: bool | None = None,
        packed: bool | None = None,
    ) -> None:
        why = supported(model)
        if why is not None:
            raise ValueError(f"the fast engine cannot run this model: {why}")
        self.model = model
        inner = model.model
        self.layers = list(inner.layers)
        self.embed = inner.embed_tokens
        self.norm = inner.norm
        self.lm_head = model.lm_head
        config = model.config
        first = self.layers[0].self_attn
        self.heads = config.num_attention_heads
        self.kv_heads = getattr(config, "num_key_value_heads", None) or self.heads
        self.head_dim = getattr(first, "head_dim", config.hidden_size // self.heads)
        self.scale = float(getattr(first, "scaling", self.head_dim**-0.5))
        self.device = self.embed.weight.device
        self.dtype = self.embed.weight.dtype
        self.slots = slots
        self.context = context
        on_gpu = self.device.type == "cuda"
        if attention == "auto":
            attention = "triton" if on_gpu else "torch"
        if attention == "triton" and not on_gpu:
            raise ValueError("the Triton decode kernel needs a CUDA device")
        self.attention = attention
        # Every token attends as a query over its slot (see the module docstring): the Triton
        # path always; the reference path only when asked (the CPU test of that formulation).
        self.packed = attention == "triton" if packed is None else packed
        # Never zeroed: nothing reads past a sequence's length (the kernel masks its loads, the
        # reference zeroes what it gathers there), and on a CPU untouched pages stay unallocated.
        self.cache = torch.empty(
            self.cache_shape(model, slots, context), dtype=self.dtype, device=self.device
        )
        with torch.no_grad():
            positions = torch.arange(context, device=self.device)[None]
            dummy = torch.zeros(1, dtype=self.dtype, device=self.device)
            cos, sin = inner.rotary_emb(dummy, positions)
        self.cos, self.sin = cos[0], sin[0]  # [context, head_dim]
        # Graphs replay the Triton kernel, which reads slots and lengths on the device; the
        # reference attention's gather width and prefill masks are host values: it runs eagerly.
        fast = attention == "triton"
        self.graphs_enabled = fast if cuda_graphs is None else (cuda_graphs and fast)
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self._graph_inputs: dict[str, torch.Tensor] = {}
        self._pinned = torch.empty(0, dtype=torch.long, pin_memory=on_gpu)

    @staticmethod
    def cache_shape(model: Any, slots: int, context: int) -> tuple[int, ...]:
        config = model.config
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = getattr(model.model.layers[0].self_attn, "head_dim", config.hidden_size // heads)
        return (len(model.model.layers), 2, slots + 1, kv_heads, context, head_dim)

    @staticmethod
    def bytes_per_slot(model: Any, context: int) -> int:
        layers, two, _, kv_heads, _, head_dim = Runner.cache_shape(model, 1, context)
        return layers * two * kv_heads * context * head_dim * model.dtype.itemsize  # type: ignore[no-any-return]

    @property
    def scratch_slot(self) -> int:
        return self.slots

    # -- inputs ---------------------------------------------------------------------------------

    def _to_device(self, values: list[int]) -> torch.Tensor:
        host = torch.tensor(values, dtype=torch.long)
        if self.device.type != "cuda":
            return host
        return host.pin_memory().to(self.device, non_blocking=True)

    def _plan(self, step: StepInput) -> _Plan:
        """Everything a step's layers need, sent to the device in one host-to-device copy."""
        segments = step.segments
        decodes = 0
        while decodes < len(segments) and segments[decodes].count == 1:
            decodes += 1
        positions: list[int] = []
        slots: list[int] = []
        rows: list[int] = []
        fresh: dict[int, list[int]] = {}
        chunks: list[tuple[int, Segment]] = []
        offset = 0
        for i, seg in enumerate(segments):
            positions.extend(range(seg.start, seg.start + seg.count))
            slots.extend([seg.slot] * seg.count)
            if i >= decodes and not self.packed:
                if seg.start == 0:
                    fresh.setdefault(seg.count, []).append(offset)
                else:
                    chunks.append((offset, seg))
            offset += seg.count
            if seg.logits:
                rows.append(offset - 1)
        groups: list[int] = []
        for count, offsets in fresh.items():
            groups.extend(o + i for o in offsets for i in range(count))
        n = len(step.tokens)
        queries = len(segments) if self.packed else decodes  # segments the decode path attends
        packed = self._to_device(step.tokens + positions + slots + rows + groups)
        plan = _Plan(
            tokens=packed[:n],
            positions=packed[n : 2 * n],
            slots=packed[2 * n : 3 * n],
            rows=packed[3 * n : 3 * n + len(rows)],
            decodes=n if self.packed else decodes,
            longest=max((s.start + s.count for s in segments[:queries]), default=1),
        )
        at = 3 * n + len(rows)
        for count, offsets in fresh.items():
            size = count * len(offsets)
            plan.fresh.append(packed[at : at + size].view(len(offsets), count))
            at += size
        for offset, seg in chunks:
            end = seg.start + seg.count
            # Its queries see the cached prefix and themselves: bottom-right causal.
            mask = torch.ones(seg.count, end, dtype=torch.bool, device=self.device)
            plan.chunks.append((offset, seg, mask.tril(seg.start)))
        return plan

    # -- forward --------------------------------------------------------------------------------

    def _decode_attention(
        self, layer: int, q: torch.Tensor, slots: torch.Tensor, lengths: torch.Tensor, longest: int
    ) -> torch.Tensor:
        k_cache, v_cache = self.cache[layer, 0], self.cache[layer, 1]
        if self.attention == "triton":
            from puzzles.worker.triton_decode import decode_attention

            return decode_attention(q, k_cache, v_cache, slots, lengths, self.scale)
        return reference_decode_attention(q, k_cache, v_cache, slots, lengths, self.scale, longest)

    def _prefill_attention(
        self,
        layer: int,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        plan: _Plan,
        out: torch.Tensor,
    ) -> None:
        """Causal attention for prefill chunks; fresh prompts of equal length go in one call.

        Not cuDNN's SDPA: it plans a graph per new shape, and prefill shapes change every step
        (measured: ~100 ms of host time per mixed step).  Keys and values are expanded to the
        query heads (a few MB per step) so that flash attention takes them without GQA support.
        """
        groups = self.heads // self.kv_heads
        with sdpa_kernel(_PREFILL_BACKENDS):
            for offset, seg, mask in plan.chunks:
                end = seg.start + seg.count
                keys = self.cache[layer, 0, seg.slot, :, :end][None]
                values = self.cache[layer, 1, seg.slot, :, :end][None]
                query = q[offset : offset + seg.count].transpose(0, 1)[None]
                result = F.scaled_dot_product_attention(
                    query,
                    keys.repeat_interleave(groups, dim=1),
                    values.repeat_interleave(groups, dim=1),
                    attn_mask=mask,
                    scale=self.scale,
                )
                out[offset : offset + seg.count] = result[0].transpose(0, 1)
            for index in plan.fresh:
                query = q[index].transpose(1, 2)  # [prompts, heads, length, head_dim]
                keys = k[index].transpose(1, 2).repeat_interleave(groups, dim=1)
                values = v[index].transpose(1, 2).repeat_interleave(groups, dim=1)
                result = F.scaled_dot_product_attention(
                    query, keys, values, is_causal=True, scale=self.scale
                )
                out[index.flatten()] = result.transpose(1, 2).reshape(-1, self.heads, self.head_dim)

    def _forward(self, plan: _Plan) -> torch.Tensor:
        """Float32 logits for ``plan.rows``; the first ``plan.decodes`` tokens are decodes."""
        tokens, positions, slots, decodes = plan.tokens, plan.positions, plan.slots, plan.decodes
        n = tokens.shape[0]
        x = self.embed(tokens)
        cos, sin = self.cos[positions][:, None], self.sin[positions][:, None]
        lengths = positions[:decodes] + 1  # a query sees its slot up to itself
        for index, layer in enumerate(self.layers):
            attn = layer.self_attn
            h = layer.input_layernorm(x)
            q = attn.q_proj(h).view(n, -1, self.head_dim)
            k = attn.k_proj(h).view(n, -1, self.head_dim)
            v = attn.v_proj(h).view(n, -1, self.head_dim)
            if getattr(attn, "q_norm", None) is not None:
                q, k = attn.q_norm(q), attn.k_norm(k)
            q, k = _rope(q, cos, sin), _rope(k, cos, sin)
            self.cache[index, 0][slots, :, positions] = k
            self.cache[index, 1][slots, :, positions] = v
            if decodes == n:
                o = self._decode_attention(index, q, slots, lengths, plan.longest)
            else:
                o = torch.empty_like(q)
                if decodes:
                    o[:decodes] = self._decode_attention(
                        index, q[:decodes], slots[:decodes], lengths, plan.longest
                    )
                self._prefill_attention(index, q, k, v, plan, o)
            x = x + attn.o_proj(o.reshape(n, -1))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return self.lm_head(self.norm(x[plan.rows])).float()  # type: ignore[no-any-return]

    @torch.no_grad()
    def step(self, step: StepInput) -> torch.Tensor:
        """Run one step; returns float32 logits, one row per segment that asked for them."""
        plan = self._plan(step)
        n = len(step.tokens)
        if self.graphs_enabled and n <= GRAPH_BUCKETS[-1]:
            return self._replay(plan, n)
        return self._forward(plan)

    # -- CUDA graphs, one per token-count bucket ------------------------------------------------

    @torch.no_grad()
    def _replay(self, plan: _Plan, n: int) -> torch.Tensor:
        bucket = GRAPH_BUCKETS[bisect.bisect_left(GRAPH_BUCKETS, n)]
        if bucket not in self._graphs:
            self._capture(bucket)
        inputs = self._graph_inputs
        inputs["tokens"][:n].copy_(plan.tokens)
        inputs["positions"][:n].copy_(plan.positions)
        inputs["slots"][:n].copy_(plan.slots)
        # Padding rows decode token 0 at position 0 of the scratch slot: harmless, never read.
        inputs["tokens"][n:bucket].zero_()
        inputs["positions"][n:bucket].zero_()
        inputs["slots"][n:bucket].fill_(self.scratch_slot)
        wanted = plan.rows.shape[0]
        inputs["rows"][:wanted].copy_(plan.rows)
        inputs["rows"][wanted : self._rows(bucket)].zero_()  # padding rows: logits nobody reads
        graph, logits = self._graphs[bucket]
        graph.replay()
        return logits[:wanted]

    def _rows(self, bucket: int) -> int:
        """Logits rows a bucket's graph computes: one per sequence at most."""
        return min(bucket, self.slots)

    def _capture(self, bucket: int) -> None:
        if not self._graph_inputs:
            size = GRAPH_BUCKETS[-1]
            self._graph_inputs = {
                "tokens": torch.zeros(size, dtype=torch.long, device=self.device),
                "positions": torch.zeros(size, dtype=torch.long, device=self.device),
                "slots": torch.full((size,), self.scratch_slot, device=self.device),
                "rows": torch.zeros(size, dtype=torch.long, device=self.device),
            }
            self._pool = torch.cuda.graph_pool_handle()
        inputs = self._graph_inputs
        plan = _Plan(
            tokens=inputs["tokens"][:bucket],
            positions=inputs["positions"][:bucket],
            slots=inputs["slots"][:bucket],
            rows=inputs["rows"][: self._rows(bucket)],
            decodes=bucket,
            longest=self.context,
        )
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):  # compiles the kernels and settles the allocator
                self._forward(plan)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            logits = self._forward(plan)
        self._graphs[bucket] = (graph, logits)

    @torch.no_grad()
    def capture_all(self, up_to: int) -> None:
        """Capture every bucket a step of ``up_to`` tokens needs now (start-up), largest first
        to share one memory pool."""
        if not self.graphs_enabled:
            return
        last = bisect.bisect_left(GRAPH_BUCKETS, min(up_to, GRAPH_BUCKETS[-1]))
        for bucket in reversed(GRAPH_BUCKETS[: last + 1]):
            if bucket not in self._graphs:
                self._capture(bucket)
