"""The fast engine (``puzzles.worker.fast``) on the CPU, and its step planner (``puzzles.worker.batcher``).

The engine runs the tiny random Llama with the torch attention (the path CI has): its greedy
tokens must equal transformers' ``generate`` whatever the batching does (chunked prefill, queued
requests, preemption and recompute).  The planner is tested on its own, without a model: chunk
budgets, the VTC order with the TTFT credit, preemption, FIFO and the accounting.  The Triton
kernel and CUDA graphs run on a GPU only: ``python bench/worker_check.py`` there.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from puzzles.worker.batcher import Batcher, Sequence
from puzzles.worker.tenants import TenantLedger
from tests.test_worker import require_model_stack


@pytest.fixture(scope="module")
def tiny_model() -> Any:
    require_model_stack()
    from puzzles.worker.model import random_model

    return random_model("llama")


def _reference(tiny_model: Any, prompt: list[int], new: int) -> list[int]:
    import torch

    with torch.inference_mode():
        out = tiny_model.model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=new,
            min_new_tokens=new,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
        )
    return [int(t) for t in out[0, len(prompt) :]]


async def _tokens(backend: Any, prompt: list[int], new: int, tenant: str = "t") -> list[int]:
    from puzzles.worker.backend import SamplingParams

    sink: list[int] = []
    params = SamplingParams(max_new_tokens=new)
    async for _ in backend.stream_tokens(prompt, params, tenant=tenant, text=False, sink=sink):
        pass
    return sink


PROMPTS = [
    [(7 * i + j * 13) % 240 + 3 for j in range(n)] for i, n in enumerate((1, 5, 40, 23, 61, 9))
]


async def test_fast_engine_tokens_equal_generate_with_chunks_and_queueing(tiny_model: Any) -> None:
    from puzzles.worker.fast import FastBackend
    from puzzles.worker.options import EngineOptions

    # 3 slots for 6 requests (they queue) and 16 tokens a step (prompts are chunked).
    options = EngineOptions(
        sampling=False, ignore_eos=True, max_requests_per_batch=3, max_batch_tokens=16
    )
    backend = FastBackend(tiny_model, options)
    try:
        got = await asyncio.gather(*[_tokens(backend, p, 12) for p in PROMPTS])
        assert backend.steps > 12
    finally:
        backend.close()
    assert got == [_reference(tiny_model, p, 12) for p in PROMPTS]


def test_packed_attention_equals_chunked_prefill_attention(tiny_model: Any) -> None:
    """The GPU's formulation (every token one query over its slot, its own keys written first)
    gives the logits of the reference path's causal prefill, chunks and decodes mixed."""
    import torch

    from puzzles.worker.runner import Runner, StepInput

    def logits(packed: bool) -> list[torch.Tensor]:
        runner = Runner(tiny_model.model, slots=3, context=128, attention="torch", packed=packed)
        prompts = [PROMPTS[4], PROMPTS[2], PROMPTS[3]]  # 61, 40 and 23 tokens
        steps = [
            [(0, 0, prompts[0][:30], False), (1, 0, prompts[1], True)],
            [(1, 40, [5], True), (0, 30, prompts[0][30:], True), (2, 0, prompts[2][:7], False)],
            [(0, 61, [9], True), (1, 41, [6], True), (2, 7, prompts[2][7:], True)],
        ]
        out = []
        for segments in steps:
            step = StepInput()
            for slot, start, tokens, wanted in segments:
                step.add(slot, start, tokens, wanted)
            out.append(runner.step(step))
        return out

    for got, want in zip(logits(packed=True), logits(packed=False), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)  # float32 sums reordered


async def test_preempted_requests_are_recomputed_to_the_same_tokens(tiny_model: Any) -> None:
    from puzzles.worker.fast import FastBackend
    from puzzles.worker.options import EngineOptions

    options = EngineOptions(
        sampling=False, ignore_eos=True, max_requests_per_batch=2, max_batch_tokens=64
    )
    backend = FastBackend(tiny_model, options)
    try:
        flood = [asyncio.create_task(_tokens(backend, p, 30, "flood")) for p in PROMPTS[2:5]]
        while backend.steps < 8:  # the flood has run a while and is ahead of the light tenant
            await asyncio.sleep(0.005)
        light = await _tokens(backend, PROMPTS[1], 6, "light")
        floods = await asyncio.gather(*flood)
        assert backend.batcher.preempted >= 1
    finally:
        backend.close()
    assert light == _reference(tiny_model, PROMPTS[1], 6)
    assert floods == [_reference(tiny_model, p, 30) for p in PROMPTS[2:5]]


async def test_a_light_request_preempts_while_its_tenant_has_one_decoding(tiny_model: Any) -> None:
    from puzzles.worker.fast import FastBackend
    from puzzles.worker.options import EngineOptions

    options = EngineOptions(
        sampling=False, ignore_eos=True, max_requests_per_batch=3, max_batch_tokens=64
    )
    backend = FastBackend(tiny_model, options)
    try:
        # Short flood requests, many of them: the flood keeps being admitted (and charged) while
        # the light tenant's one long request decodes.
        flood_prompts = PROMPTS[2:] * 3
        flood = [asyncio.create_task(_tokens(backend, p, 8, "flood")) for p in flood_prompts]
        while backend.steps < 4:
            await asyncio.sleep(0.005)
        first = asyncio.create_task(_tokens(backend, PROMPTS[0], 60, "light"))

        def under_served() -> bool:
            counters = backend.ledger.counters()
            return counters.get("light", 0.0) + 20 < counters.get("flood", 0.0)

        while not (under_served() and backend.batcher.waiting.get("flood")):
            assert not first.done()
            await asyncio.sleep(0.002)
        preempted = backend.batcher.preempted
        second = await _tokens(backend, PROMPTS[1], 4, "light")
        # It took a flood's slot rather than waiting for one, while the first still decodes.
        assert backend.batcher.preempted > preempted and not first.done()
        floods = await asyncio.gather(*flood)
        assert await first == _reference(tiny_model, PROMPTS[0], 60)
    finally:
        backend.close()
    assert second == _reference(tiny_model, PROMPTS[1], 4)
    assert floods == [_reference(tiny_model, p, 8) for p in flood_prompts]


async def test_a_stopped_fast_engine_refuses_requests(tiny_model: Any) -> None:
    from puzzles.worker.fast import FastBackend
    from puzzles.worker.options import EngineOptions

    backend = FastBackend(tiny_model, EngineOptions(max_requests_per_batch=2))
    backend.close()
    with pytest.raises(RuntimeError, match="not accepting"):
        await _tokens(backend, [1, 2, 3], 2)


# -- the planner ------------------------------------------------------------------------------


def _seq(name: str, tenant: str, prompt: int, new: int, at: float = 0.0) -> Sequence:
    return Sequence(name, tenant, list(range(3, 3 + prompt)), new, at)


def _run(batcher: Batcher, steps: int, now: float = 0.0) -> list[list[tuple[str, int]]]:
    """Plan and 'run' steps: every planned token goes into the cache, logits rows get token 1."""
    plans = []
    for _ in range(steps):
        work = batcher.plan(now)
        plans.append([(w.seq.request_id, w.count) for w in work])
        for item in work:
            batcher.advance(item)
            if item.logits:
                item.seq.generated.append(1)
                batcher.ledger.charge(item.seq.tenant, 0, 1)
                if len(item.seq.generated) >= item.seq.max_new:
                    batcher.finish(item.seq)
    return plans


def _ledger(*names: str) -> TenantLedger:
    ledger = TenantLedger()
    for name in names:
        ledger.open(name, name.split("-")[0])
    return ledger


def test_prefill_is_chunked_to_the_step_budget_and_decodes_go_first() -> None:
    ledger = _ledger("a-1", "a-2")
    batcher = Batcher(ledger, slots=4, token_budget=10, policy="fifo")
    batcher.add(_seq("a-1", "a", 15, 3))
    batcher.add(_seq("a-2", "a", 4, 3))
    plans = _run(batcher, 4)
    assert plans[0] == [("a-1", 10)]
    assert plans[1] == [("a-1", 5), ("a-2", 4)]  # the rest of a-1, then a-2 in the same step
    assert plans[2] == [("a-1", 1), ("a-2", 1)]  # both decode
    assert all(sum(n for _, n in plan) <= 10 for plan in plans)


def test_a_new_tenant_goes_ahead_of_a_flood_backlog_under_vtc_not_fifo() -> None:
    for policy, light_first in (("vtc", True), ("fifo", False)):
        names = [f"flood-{i}" for i in range(6)] + ["light-1"]
        ledger = _ledger(*names)
        batcher = Batcher(ledger, slots=8, token_budget=8, policy=policy)
        for name in names[:6]:
            batcher.add(_seq(name, "flood", 8, 4))
        _run(batcher, 2)  # two flood requests admitted and prefilled
        batcher.add(_seq("light-1", "light", 8, 4, at=1.0))
        plan = _run(batcher, 1)[0]
        prefills = [name for name, count in plan if count > 1]
        assert (prefills[:1] == ["light-1"]) is light_first, (policy, plan)


def test_a_light_tenant_preempts_the_most_served_tenant_only_when_owed() -> None:
    names = [f"flood-{i}" for i in range(3)] + ["light-1"]
    ledger = _ledger(*names)
    batcher = Batcher(ledger, slots=2, token_budget=64, policy="vtc")
    for name in names[:3]:
        batcher.add(_seq(name, "flood", 10, 50))
    _run(batcher, 5)
    assert set(batcher.running) == {"flood-0", "flood-1"}
    batcher.add(_seq("light-1", "light", 6, 4))
    plan = _run(batcher, 1)[0]
    assert ("light-1", 6) in plan  # admitted at once, into a preempted flood slot
    assert batcher.preempted == 1 and len(batcher.running) == 2
    victim = next(s for s in batcher.waiting["flood"] if s.request_id in ("flood-0", "flood-1"))
    assert victim.cached == 0 and victim.preemptions == 1 and victim.generated
    # Its recompute is not charged again: the flood's prompt tokens stay 3 prompts' worth.
    _run(batcher, 200)
    assert ledger.snapshot([])["flood"].prompt_tokens == 30
    assert not batcher.running and not batcher.waiting


def test_equal_floods_do_not_preempt_each_other() -> None:
    names = ["a-1", "a-2", "b-1"]
    ledger = _ledger(*names)
    batcher = Batcher(ledger, slots=2, token_budget=64, policy="vtc")
    batcher.add(_seq("a-1", "a", 10, 20))
    batcher.add(_seq("b-1", "b", 10, 20))
    batcher.add(_seq("a-2", "a", 10, 20))
    _run(batcher, 10)
    assert batcher.preempted == 0


def test_fifo_never_preempts_and_serves_in_arrival_order() -> None:
    names = [f"flood-{i}" for i in range(3)] + ["light-1"]
    ledger = _ledger(*names)
    batcher = Batcher(ledger, slots=1, token_budget=64, policy="fifo")
    for name in names[:3]:
        batcher.add(_seq(name, "flood", 4, 2))
    batcher.add(_seq("light-1", "light", 4, 2))
    order = [name for plan in _run(batcher, 12) for name, count in plan if count > 1]
    assert order == ["flood-0", "flood-1", "flood-2", "light-1"]
    assert batcher.preempted == 0


def test_finishing_settles_the_reservation_and_frees_the_slot() -> None:
    ledger = _ledger("a-1")
    batcher = Batcher(ledger, slots=1, token_budget=8)
    seq = _seq("a-1", "a", 4, 10)
    batcher.add(seq)
    _run(batcher, 3)  # prefill and two decodes: 3 tokens of 10 reserved
    assert ledger.counters()["a"] == 4 + 2.0 * 10
    batcher.finish(seq)  # cancelled
    assert ledger.counters()["a"] == 4 + 2.0 * 3
    assert batcher.free_slots == 1 and not batcher.running


def test_the_step_with_a_first_token_carries_a_quarter_of_the_budget_for_others() -> None:
    names = [f"flood-{i}" for i in range(4)] + ["light-1"]
    ledger = _ledger(*names)
    batcher = Batcher(ledger, slots=8, token_budget=40, policy="vtc")
    for name in names[:4]:
        batcher.add(_seq(name, "flood", 30, 20))
    _run(batcher, 1)
    batcher.add(_seq("light-1", "light", 6, 4))
    plan = _run(batcher, 1)[0]
    prefills = [(name, n) for name, n in plan if n > 1]
    assert prefills[0] == ("light-1", 6)
    assert sum(n for _, n in prefills[1:]) <= 10  # 40 / 4
    assert sum(n for _, n in _run(batcher, 1)[0]) == 40  # the next step is full again


FLOOD = 16  # requests per flooding tenant


def _light_in_flight() -> tuple[Batcher, TenantLedger]:
    """Two floods hold all 4 slots with a backlog; the light tenant has one request decoding."""
    names = [f"big-{i}" for i in range(FLOOD)] + [f"small-{i}" for i in range(FLOOD)]
    names += [f"light-{i}" for i in range(1, 4)]
    ledger = _ledger(*names)
    batcher = Batcher(ledger, slots=4, token_budget=64, policy="vtc")
    for i in range(FLOOD):
        batcher.add(_seq(f"big-{i}", "big", 12, 8))
        batcher.add(_seq(f"small-{i}", "small", 4, 8))
    _run(batcher, 3)
    batcher.add(_seq("light-1", "light", 6, 30))
    _run(batcher, 20)  # light-1 preempted its way in (nothing running) and is decoding
    assert "light-1" in batcher.running and batcher.running["light-1"].generated
    return batcher, ledger


def test_a_light_tenant_with_a_request_in_flight_goes_ahead_of_a_heavy_backlog() -> None:
    batcher, ledger = _light_in_flight()
    preempted = batcher.preempted
    before = ledger.counters()
    others = min(before["big"], before["small"])
    assert before["light"] < others  # it asked for less than its share since its arrival
    batcher.add(_seq("light-2", "light", 6, 4))
    # Its queue was empty: VTC lifts it level with the least-served other tenant, no lower (an
    # under-demanding tenant banks no credit), and no higher.
    assert ledger.counters()["light"] == others
    # A second light request queued behind light-2 is backlogged: it waits like anyone else.
    batcher.add(_seq("light-3", "light", 6, 4))
    plan = _run(batcher, 1)[0]
    assert ("light-2", 6) in plan  # admitted at once into a flood's slot, ahead of both backlogs
    assert all(name != "light-3" for name, _ in plan)
    assert batcher.preempted == preempted + 1 and "light-1" in batcher.running
    victim = next(s for q in batcher.waiting.values() for s in q if s.preemptions)
    assert victim.tenant in ("big", "small") and not victim.owed


def test_without_preemption_the_light_request_waits_for_a_slot() -> None:
    batcher, _ = _light_in_flight()
    batcher.preemption = False  # as under the old rule, which required nothing running
    preempted = batcher.preempted
    batcher.add(_seq("light-2", "light", 6, 4))
    assert all(name != "light-2" for name, _ in _run(batcher, 1)[0])
    assert batcher.preempted == preempted


def test_owed_preemption_keeps_the_counters_exact() -> None:
    batcher, ledger = _light_in_flight()
    batcher.add(_seq("light-2", "light", 6, 4))
    _run(batcher, 400)
    assert not batcher.running and not batcher.waiting and batcher.preempted >= 1
    view = ledger.snapshot([])
    # Every prompt charged once (recomputes are free), every generated token once, and with all
    # reservations settled the counters are prompt + 2 x output plus the lifts.
    assert (view["big"].prompt_tokens, view["big"].output_tokens) == (FLOOD * 12, FLOOD * 8)
    assert (view["small"].prompt_tokens, view["small"].output_tokens) == (FLOOD * 4, FLOOD * 8)
    assert (view["light"].prompt_tokens, view["light"].output_tokens) == (12, 34)
    counters = ledger.counters()
    for tenant in ("big", "small"):
        assert counters[tenant] == view[tenant].service  # backlogged from the start: never lifted
    assert counters["light"] >= view["light"].service


def test_freed_slots_are_refilled_together_unless_a_request_is_owed() -> None:
    names = [f"a-{i}" for i in range(12)] + ["light-1"]
    ledger = _ledger(*names)
    # 4 slots; a decode-only step takes backlogged prefill once 2 slots are free or one has
    # waited 5 plans (the engine does this when decode steps replay a CUDA graph).
    batcher = Batcher(ledger, slots=4, token_budget=64, policy="vtc", admit_batch=2, max_defer=5)
    for i, new in enumerate((2, 5, 30, 30)):
        batcher.add(_seq(f"a-{i}", "a", 4, new))
    for i in range(4, 12):
        batcher.add(_seq(f"a-{i}", "a", 4, 9))
    plans = _run(batcher, 6)

    def prefills(plan: list[tuple[str, int]]) -> list[str]:
        return [name for name, count in plan if count > 1]

    # a-0 ends in step 2: its slot waits (the steps stay decode-only) until a-1 ends in step 5,
    # then both are refilled in one step.
    assert [prefills(p) for p in plans[2:5]] == [[], [], []]
    assert prefills(plans[5]) == ["a-4", "a-5"]
    # One slot free: after max_defer plans it is refilled anyway.
    batcher.finish(batcher.running["a-2"])
    assert [prefills(p) for p in _run(batcher, 5)] == [[], [], [], [], ["a-6"]]
    # An owed request (its tenant's queue was empty) never waits for company.
    batcher.finish(batcher.running["a-3"])
    batcher.add(_seq("light-1", "light", 6, 4))
    assert prefills(_run(batcher, 1)[0]) == ["light-1"]
