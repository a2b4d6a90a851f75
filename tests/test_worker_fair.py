"""Fairness between tenants in ``gate worker``: the VTC order and ledger, then a flood on the engine.

The flood runs the real continuous batching engine on a tiny random model with room for two
requests per batch: one tenant floods (8 requests), another sends 2 just after.  What each tenant
had been served when the light tenant's last answer came back shows the policy, with no timing:
under VTC the light tenant is served alongside the flood, under FIFO only after all of it.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from puzzles.worker.tenants import TenantLedger, fair_order
from tests.test_worker import SMALL_ENGINE, require_model_stack


def test_fair_order_interleaves_tenants_by_projected_counter() -> None:
    queues = {
        "heavy": [("h1", 10.0, 0), ("h2", 10.0, 1), ("h3", 10.0, 2)],
        "light": [("l1", 10.0, 3), ("l2", 10.0, 4)],
    }
    # heavy is 15 ahead: light goes twice (0, 10 -> 20), heavy (15 -> 25) in between.
    assert fair_order(queues, {"heavy": 15.0, "light": 0.0}, limit=10) == [
        "l1",
        "l2",
        "h1",
        "h2",
        "h3",
    ]
    assert fair_order(queues, {"heavy": 0.0, "light": 0.0}, limit=3) == ["h1", "l1", "h2"]
    assert fair_order({"a": []}, {}, limit=5) == []


def test_a_newly_backlogged_tenant_starts_at_the_lowest_backlogged_counter() -> None:
    ledger = TenantLedger()
    for request_id, tenant in [("a1", "a"), ("b1", "b"), ("c1", "c"), ("a2", "a")]:
        ledger.open(request_id, tenant)
    ledger.arrive("a1", backlogged=[])
    ledger.charge("a", prompt_tokens=100, output_tokens=0)
    ledger.arrive("b1", backlogged=["a"])
    assert ledger.counters()["b"] == 100.0  # no credit for having been idle
    ledger.charge("b", prompt_tokens=50, output_tokens=0)
    ledger.arrive("c1", backlogged=["a", "b"])
    assert ledger.counters()["c"] == 100.0  # the lowest of a (100) and b (150)
    ledger.arrive("a2", backlogged=None)  # a still has work: no lift
    ledger.arrive("a2", backlogged=["b"])  # a re-queue after preemption is no arrival
    assert ledger.counters()["a"] == 100.0


def test_output_is_reserved_at_admission_and_the_unused_part_returned() -> None:
    ledger = TenantLedger(w_in=1.0, w_out=2.0)
    ledger.reserve("t", 100)  # admitted with max_tokens 100
    ledger.charge("t", prompt_tokens=10, output_tokens=30)
    ledger.reserve("t", 30 - 100)  # it stopped after 30 tokens
    assert ledger.counters()["t"] == 10 + 2 * 30
    view = ledger.snapshot(running_ids=[])["t"]
    assert (view.service, view.prompt_tokens, view.output_tokens) == (70.0, 10, 30)


@pytest.fixture(scope="module")
def tiny_model() -> Any:
    require_model_stack()
    from puzzles.worker.model import random_model

    return random_model("llama")


async def _served_when_light_is_done(tiny_model: Any, policy: str) -> dict[str, float]:
    from puzzles.worker.backend import Finished, SamplingParams
    from puzzles.worker.engine import ContinuousBatchingBackend, EngineOptions

    options = EngineOptions(
        scheduler=policy,
        sampling=False,
        ignore_eos=True,
        max_requests_per_batch=2,
        **SMALL_ENGINE,
    )
    backend = ContinuousBatchingBackend(tiny_model, options)
    rng = random.Random(7)
    params = SamplingParams(max_new_tokens=8)
    snapshot: dict[str, float] = {}
    light_left = 2

    async def request(tenant: str) -> None:
        nonlocal light_left
        prompt = [rng.randrange(3, 250) for _ in range(24)]  # random: no shared prefixes
        async for event in backend.generate(prompt, params, tenant=tenant):
            if isinstance(event, Finished) and tenant == "light":
                light_left -= 1
                if light_left == 0:
                    snapshot.update({t: v.service for t, v in backend.queue().tenants.items()})

    try:
        flood = [asyncio.create_task(request("flood")) for _ in range(8)]
        await asyncio.sleep(0)  # the flood is queued first
        await asyncio.gather(*[request("light") for _ in range(2)], *flood)
    finally:
        backend.close()
    return snapshot


async def test_a_flood_is_served_fairly_under_vtc_and_unfairly_under_fifo(
    tiny_model: Any,
) -> None:
    fair = await _served_when_light_is_done(tiny_model, "vtc")
    fifo = await _served_when_light_is_done(tiny_model, "fifo")
    # When the light tenant's 2 requests are done, VTC has served the flood about as much
    # (its earlier admissions included); FIFO had to serve nearly all 8 flood requests first.
    assert fair["flood"] <= 2.0 * fair["light"], fair
    assert fifo["flood"] >= 3.0 * fifo["light"], fifo


def test_tenant_names_past_the_cap_share_one_bucket() -> None:
    from puzzles.worker.tenants import MAX_TENANTS, OVERFLOW_TENANT

    ledger = TenantLedger()
    for i in range(MAX_TENANTS - 1):
        assert ledger.open(f"r{i}", f"t{i}") == f"t{i}"
    assert ledger.open("last", "one-more") == "one-more"
    assert ledger.open("x", "beyond") == OVERFLOW_TENANT
    assert ledger.open("y", "t5") == "t5"  # known names keep their own counter
    assert len(ledger.snapshot(running_ids=[])) == MAX_TENANTS + 1
