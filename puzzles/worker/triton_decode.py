"""Decode attention over the slot KV cache as one Triton kernel (GPU only; imported lazily).

One program per (sequence, KV head): it loads the query heads that share that KV head (GQA) as
one tile, walks the sequence's cached keys and values in blocks of ``BLOCK_N`` up to its own
length, and keeps a streaming softmax (flash-decoding without the split, which a batch of
hundreds of sequences does not need to fill the GPU).  Only the ``length`` cached positions of
each sequence are read, so the cost is the KV bytes the batch really holds, not batch x longest.
Lengths and slots are read from device tensors, so the launch is capturable in a CUDA graph.
"""

from __future__ import annotations

import torch
import triton  # type: ignore[import-not-found]
import triton.language as tl  # type: ignore[import-not-found]

_LOG2E = 1.4426950408889634


@triton.jit  # type: ignore[misc]  # (no annotations: Triton resolves them as globals)
def _decode_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    o_ptr,
    slots_ptr,
    lengths_ptr,
    scale_log2,
    stride_qb,
    stride_qh,
    stride_cs,
    stride_ch,
    stride_cl,
    stride_ob,
    stride_oh,
    GROUP: tl.constexpr,
    GROUP_PAD: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PRECISION: tl.constexpr,
):
    b = tl.program_id(0)
    kv_head = tl.program_id(1)
    slot = tl.load(slots_ptr + b).to(tl.int64)
    length = tl.load(lengths_ptr + b)
    g = tl.arange(0, GROUP_PAD)
    d = tl.arange(0, HEAD_DIM)
    heads = kv_head * GROUP + g
    g_mask = g < GROUP
    q = tl.load(
        q_ptr + b * stride_qb + heads[:, None] * stride_qh + d[None, :],
        mask=g_mask[:, None],
        other=0.0,
    )
    m = tl.full([GROUP_PAD], float("-inf"), tl.float32)
    denom = tl.zeros([GROUP_PAD], tl.float32)
    acc = tl.zeros([GROUP_PAD, HEAD_DIM], tl.float32)
    base = slot * stride_cs + kv_head * stride_ch
    for start in range(0, length, BLOCK_N):
        n = start + tl.arange(0, BLOCK_N)
        n_mask = n < length
        offsets = base + n[:, None] * stride_cl + d[None, :]
        k = tl.load(k_ptr + offsets, mask=n_mask[:, None], other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale_log2
        s = tl.where(n_mask[None, :], s, float("-inf"))
        m_new = tl.maximum(m, tl.max(s, 1))
        p = tl.exp2(s - m_new[:, None])
        alpha = tl.exp2(m - m_new)
        denom = denom * alpha + tl.sum(p, 1)
        v = tl.load(v_ptr + offsets, mask=n_mask[:, None], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m = m_new
    out = acc / denom[:, None]
    tl.store(
        o_ptr + b * stride_ob + heads[:, None] * stride_oh + d[None, :],
        out.to(o_ptr.dtype.element_ty),
        mask=g_mask[:, None],
    )


def decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    slots: torch.Tensor,
    lengths: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """``q`` [B, H, D]; caches [slots, KV heads, max length, D]; ``lengths`` include the token
    just written.  Returns [B, H, D]."""
    batch, heads, head_dim = q.shape
    kv_heads = k_cache.shape[1]
    group = heads // kv_heads
    out = torch.empty_like(q)
    if q.stride(2) != 1:
        q = q.contiguous()
    _decode_kernel[(batch, kv_heads)](
        q,
        k_cache,
        v_cache,
        out,
        slots,
        lengths,
        scale * _LOG2E,
        q.stride(0),
        q.stride(1),
        k_cache.stride(0),
        k_cache.stride(1),
        k_cache.stride(2),
        out.stride(0),
        out.stride(1),
        GROUP=group,
        GROUP_PAD=max(16, triton.next_power_of_2(group)),
        HEAD_DIM=head_dim,
        BLOCK_N=64,
        # float32 models get exact float32 products (the device check compares them with the
        # reference); bfloat16 and float16 run on the tensor cores as usual.
        PRECISION="ieee" if q.dtype == torch.float32 else "tf32",
        num_warps=4,
        num_stages=2,
    )
    return out
