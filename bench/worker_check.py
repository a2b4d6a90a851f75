"""Device check: the fast engine's attention and tokens against the reference paths.

Run on a GPU: ``python bench/worker_check.py`` (exit status 1 if a check fails).  On a CPU the
same comparisons of the torch path run in ``tests/test_worker_fast.py``.

1. The Triton decode kernel against the plain-torch attention (float32 softmax) on random
   caches, random lengths and slots, in bfloat16 and float32: ``|out - ref| / |ref|``.
2. Greedy tokens of a random-init 1.1B Llama (TinyLlama's shape) in float32, prompts of 5 to 300
   tokens, with few slots and a small token budget so prefill is chunked and requests queue:
   the fast engine (Triton + CUDA graphs) against the fast engine with the torch attention and
   no graphs, and against transformers' ``generate``.  A random model's logits are nearly flat,
   so a token may differ where two logits tie within float rounding; every fast token must be
   the arg-max of the reference's own logits for that prefix (teacher forcing) up to 1e-3 of the
   logit spread, and the exact match rate is printed.
3. The same tokens in bfloat16 (match rates only: bfloat16 rounding flips near-ties).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from typing import Any

import torch

from puzzles.worker.backend import SamplingParams
from puzzles.worker.fast import FastBackend
from puzzles.worker.model import LoadedModel, random_model
from puzzles.worker.options import EngineOptions
from puzzles.worker.runner import reference_decode_attention


def kernel_check(dtype: torch.dtype, seed: int) -> float:
    from puzzles.worker.triton_decode import decode_attention

    gen = torch.Generator(device="cuda").manual_seed(seed)
    slots, kv_heads, heads, context, dim, batch = 40, 4, 32, 1024, 64, 33
    cache = torch.randn(2, slots + 1, kv_heads, context, dim, generator=gen, device="cuda")
    cache = cache.to(dtype)
    q = torch.randn(batch, heads, dim, generator=gen, device="cuda").to(dtype)
    chosen = torch.randperm(slots, generator=gen, device="cuda")[:batch]
    lengths = torch.randint(1, context + 1, (batch,), generator=gen, device="cuda")
    lengths[0], lengths[1] = 1, context  # the edges
    scale = dim**-0.5
    out = decode_attention(q, cache[0], cache[1], chosen, lengths, scale)
    ref = reference_decode_attention(
        q.double(), cache[0].double(), cache[1].double(), chosen, lengths, scale, context
    )
    assert not torch.isnan(out).any(), "NaN in the kernel's output"
    return float((out.double() - ref).norm() / ref.norm())


def _prompts(count: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    lengths = [5, 300, 17, 64, 65, 128, 1, 200, 33, 250, 9, 100, 77, 150, 3, 290][:count]
    return [[rng.randrange(3, 250) for _ in range(n)] for n in lengths]


async def _engine_tokens(
    loaded: LoadedModel, options: EngineOptions, prompts: list[list[int]], new: int
) -> list[list[int]]:
    backend = FastBackend(loaded, options)
    captured: list[list[int]] = [[] for _ in prompts]

    async def one(i: int) -> None:
        params = SamplingParams(max_new_tokens=new)
        async for _ in backend.stream_tokens(prompts[i], params, text=False, sink=captured[i]):
            pass

    try:
        await asyncio.gather(*[one(i) for i in range(len(prompts))])
    finally:
        backend.close()
    return captured


def _generate(loaded: LoadedModel, prompt: list[int], new: int) -> list[int]:
    ids = torch.tensor([prompt], device=loaded.device)
    out = loaded.model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=new,
        min_new_tokens=new,
        do_sample=False,
        eos_token_id=None,
        pad_token_id=0,
    )
    return [int(t) for t in out[0, len(prompt) :].tolist()]


def _ties_ok(loaded: LoadedModel, prompt: list[int], tokens: list[int]) -> tuple[int, int]:
    """(tokens checked, tokens that are not the reference's arg-max up to a near-tie)."""
    ids = torch.tensor([prompt + tokens[:-1]], device=loaded.device)
    logits = loaded.model(ids).logits[0, len(prompt) - 1 :].float()
    best = logits.max(dim=-1).values
    spread = (best - logits.mean(dim=-1)).clamp_min(1e-6)
    chosen = logits.gather(1, torch.tensor(tokens, device=ids.device)[:, None])[:, 0]
    bad = int(((best - chosen) > 1e-3 * spread).sum())
    return len(tokens), bad


def _match(a: list[list[int]], b: list[list[int]]) -> float:
    total = sum(len(x) for x in a)
    same = sum(
        sum(1 for p, q in zip(x, y, strict=False) if p == q) for x, y in zip(a, b, strict=True)
    )
    return same / max(1, total)


def _prefix_match(a: list[list[int]], b: list[list[int]]) -> float:
    """Share of tokens before the first difference (later tokens follow a different prefix)."""
    total = same = 0
    for x, y in zip(a, b, strict=True):
        total += len(x)
        for p, q in zip(x, y, strict=False):
            if p != q:
                break
            same += 1
    return same / max(1, total)


def token_check(dtype: str, new: int, strict: bool) -> bool:
    loaded = random_model("llama", size="1b", device="cuda", dtype=dtype)
    prompts = _prompts(16, 3)
    small: dict[str, Any] = {
        "max_requests_per_batch": 8,
        "max_batch_tokens": 256,
        "sampling": False,
    }
    fast = asyncio.run(_engine_tokens(loaded, EngineOptions(**small), prompts, new))
    eager = EngineOptions(attention="torch", cuda_graphs=False, **small)
    reference = asyncio.run(_engine_tokens(loaded, eager, prompts, new))
    with torch.no_grad():
        generated = [_generate(loaded, p, new) for p in prompts]
        checked = bad = 0
        for prompt, tokens in zip(prompts, fast, strict=True):
            n, wrong = _ties_ok(loaded, prompt, tokens)
            checked += n
            bad += wrong
    print(
        f"{dtype}: fast vs torch-attention engine {_match(fast, reference):.3f} "
        f"(prefix {_prefix_match(fast, reference):.3f}); fast vs generate "
        f"{_match(fast, generated):.3f} (prefix {_prefix_match(fast, generated):.3f}); "
        f"torch engine vs generate {_prefix_match(reference, generated):.3f} (prefix); "
        f"fast tokens off the reference arg-max beyond a near-tie: {bad} of {checked}"
    )
    del loaded
    torch.cuda.empty_cache()
    return bad == 0 or not strict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--new-tokens", type=int, default=48)
    args = parser.parse_args()
    ok = True
    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}")
    for dtype, bound in ((torch.bfloat16, 2e-2), (torch.float32, 1e-5)):
        errors = [kernel_check(dtype, seed) for seed in range(3)]
        passed = max(errors) < bound
        ok &= passed
        print(
            f"kernel {dtype}: max rel err {max(errors):.2e} (bound {bound:g}): {'ok' if passed else 'FAIL'}"
        )
    ok &= token_check("float32", args.new_tokens, strict=True)
    token_check("bfloat16", args.new_tokens, strict=False)
    print("device check:", "ok" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
