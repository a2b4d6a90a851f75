"""The fair pool scheduler: invariants as property tests, then the pool driving it.

The scheduler is a pure data structure on a manual clock, so hypothesis drives it through random
arrivals, dispatches and completions and checks its guarantees after every step.  The pool tests
run it behind fake OpenAI-compatible servers on ``httpx2.MockTransport`` (the unit seam); the
snapshot tests write to both real stores (memory and Redis).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.clock import ManualClock
from gate.errors import ConfigError
from gate.metrics import REGISTRY
from gate.store import Store
from puzzles.llm import (
    Backend,
    CallTags,
    FairnessSettings,
    FairScheduler,
    LLMError,
    LLMPool,
    LLMShed,
    PrefixAffinity,
    fairness_from_env,
    jain_index,
    load_backends,
    load_fairness,
    pool_snapshot,
    publish_every,
    publish_snapshot,
    read_pool_snapshots,
)
from puzzles.llm.snapshot import snapshot_key
from puzzles.llm.usage import JobClass

# -- the scheduler's invariants -------------------------------------------------------------------

TENANTS = ["a", "b", "c", "d"]
WEIGHTS = {"a": 1.0, "b": 2.0, "c": 0.5, "d": 1.0}
MAX_PROMPT = 50
MAX_OUTPUT = 80

submit_op = st.tuples(
    st.just("submit"),
    st.sampled_from(TENANTS),
    st.sampled_from(["interactive", "batch"]),
    st.integers(0, MAX_PROMPT),
    st.integers(0, MAX_OUTPUT),
)
complete_op = st.tuples(st.just("complete"), st.integers(0, 1_000))
operations = st.lists(st.one_of(submit_op, submit_op, complete_op), min_size=1, max_size=150)


class Simulation:
    """K slots driven the way the pool drives them: dispatch whenever a slot is free; charge the
    prompt at dispatch and the output at completion (the latest a streamed charge can land)."""

    def __init__(self, slots: int, batch_floor: float = 0.1, burst: float = 0.0) -> None:
        self.clock = ManualClock(start=0.0)
        self.scheduler = FairScheduler(
            weights=WEIGHTS,
            output_weight=2.0,
            batch_floor=batch_floor,
            clock=self.clock,
            burst=burst,
        )
        self.slots = slots
        self.in_flight: list[Any] = []
        self.dispatched: list[JobClass] = []

    def submit(self, tenant: str, job_class: JobClass, prompt: int, output: int) -> None:
        self.scheduler.submit(tenant, job_class, payload=(prompt, output))
        self.dispatch()

    def complete(self, index: int) -> None:
        if not self.in_flight:
            return
        ticket = self.in_flight.pop(index % len(self.in_flight))
        self.scheduler.charge(ticket.flow, output_tokens=ticket.payload[1])
        self.scheduler.finish(ticket)
        self.dispatch()

    def dispatch(self) -> None:
        while len(self.in_flight) < self.slots:
            ticket = self.scheduler.pop()
            if ticket is None:
                return
            self.scheduler.charge(ticket.flow, prompt_tokens=ticket.payload[0])
            self.dispatched.append(ticket.flow[1])
            self.in_flight.append(ticket)
        self.clock.advance(0.01)


def largest_normalised_cost(scheduler: FairScheduler) -> float:
    worst = scheduler.input_weight * MAX_PROMPT + scheduler.output_weight * MAX_OUTPUT
    return worst / min(WEIGHTS.values())


@settings(max_examples=150, deadline=None)
@given(ops=operations, slots=st.integers(1, 6), burst=st.sampled_from([0.0, 300.0]))
def test_backlogged_flows_of_a_band_never_drift_apart_by_more_than_the_bound(
    ops: list[tuple[Any, ...]], slots: int, burst: float
) -> None:
    sim = Simulation(slots, burst=burst)
    # Burst credit widens the bound by what a lift may leave a flow behind.
    bound = (slots + 1) * largest_normalised_cost(sim.scheduler) + burst / min(WEIGHTS.values())
    for op in ops:
        if op[0] == "submit":
            sim.submit(*op[1:])
        else:
            sim.complete(op[1])
        counters = sim.scheduler.counters()
        for band in ("interactive", "batch"):
            waiting = [counters[f] for f in sim.scheduler.backlogged() if f[1] == band]
            if waiting:
                assert max(waiting) - min(waiting) <= bound


@settings(max_examples=150, deadline=None)
@given(ops=operations, slots=st.integers(1, 6))
def test_no_slot_idles_while_a_request_waits(ops: list[tuple[Any, ...]], slots: int) -> None:
    sim = Simulation(slots)
    for op in ops:
        if op[0] == "submit":
            sim.submit(*op[1:])
        else:
            sim.complete(op[1])
        assert len(sim.in_flight) == slots or sim.scheduler.queued() == 0


@settings(max_examples=100, deadline=None)
@given(
    floor=st.sampled_from([0.0, 0.05, 0.1, 0.25, 0.5, 1.0]),
    dispatches=st.integers(1, 200),
)
def test_while_both_bands_wait_batch_gets_its_floor_and_interactive_the_rest(
    floor: float, dispatches: int
) -> None:
    sim = Simulation(slots=1, batch_floor=floor)
    for _ in range(dispatches + 1):
        sim.scheduler.submit("a", "interactive", payload=(1, 1))
        sim.scheduler.submit("b", "batch", payload=(1, 1))
    for _ in range(dispatches):
        sim.complete(0)
        sim.dispatch()
    batch = sim.dispatched.count("batch")
    assert batch >= int(floor * dispatches)
    assert dispatches - batch >= int((1 - floor) * dispatches)


@settings(max_examples=100, deadline=None)
@given(flood=st.integers(1, 200), flows=st.integers(2, 6))
def test_a_flow_that_joins_a_flood_is_served_within_one_round(flood: int, flows: int) -> None:
    sim = Simulation(slots=1)
    for _ in range(flood):
        sim.scheduler.submit("a", "batch", payload=(10, 10))
    for _ in range(flood // 2):
        sim.complete(0)
        sim.dispatch()
    joiners = TENANTS[1:flows]
    for tenant in joiners:
        sim.scheduler.submit(tenant, "batch", payload=(10, 10))
    served: set[str] = set()
    for _ in range(len(joiners) + 1):
        sim.complete(0)
        sim.dispatch()
        served.update(t.flow[0] for t in sim.in_flight)
    assert set(joiners) <= served


def test_burst_credit_lets_a_flow_under_its_share_keep_at_most_that_much() -> None:
    clock = ManualClock(start=0.0)
    scheduler = FairScheduler(clock=clock, burst=100.0, weights={"light": 2.0})
    flood = scheduler.submit("flood", "batch")
    scheduler.submit("flood", "batch")
    scheduler.charge(flood.flow, prompt_tokens=1_000)
    scheduler.submit("light", "batch")
    counters = scheduler.counters()
    # 100 weighted tokens of credit are 50 normalised ones for a tenant of weight 2.
    assert counters[("light", "batch")] == counters[("flood", "batch")] - 50
    with pytest.raises(ValueError):
        FairScheduler(clock=clock, burst=-1.0)


def test_an_idle_flow_is_lifted_to_the_lowest_backlogged_counter_and_banks_no_credit() -> None:
    clock = ManualClock(start=0.0)
    scheduler = FairScheduler(clock=clock)
    scheduler.submit("a", "batch")
    scheduler.charge(("a", "batch"), prompt_tokens=1_000)

    scheduler.submit("b", "batch")  # b never ran: without the lift it would own the next 1000

    assert scheduler.counters()[("b", "batch")] == 1_000


def test_when_no_flow_is_backlogged_a_returning_flow_is_lifted_to_the_last_one_to_leave() -> None:
    scheduler = FairScheduler(clock=ManualClock(start=0.0))
    ticket = scheduler.submit("a", "batch")
    assert scheduler.pop() is ticket
    scheduler.charge(("a", "batch"), prompt_tokens=500)
    scheduler.submit("a", "batch")
    scheduler.pop()

    scheduler.submit("b", "batch")

    assert scheduler.counters()[("b", "batch")] == 500


def test_a_heavier_tenant_gets_service_in_proportion_to_its_weight() -> None:
    sim = Simulation(slots=1)
    for _ in range(60):
        sim.scheduler.submit("b", "batch", payload=(10, 10))  # weight 2
        sim.scheduler.submit("d", "batch", payload=(10, 10))  # weight 1
    sim.dispatch()
    for _ in range(59):
        sim.complete(0)
    services = {s.tenant: s.service for s in sim.scheduler.stats()}
    assert services["b"] / services["d"] == pytest.approx(2.0, rel=0.1)


def test_only_sparse_flows_are_offered_headroom_the_least_served_first() -> None:
    clock = ManualClock(start=0.0)
    scheduler = FairScheduler(clock=clock)
    for _ in range(3):
        scheduler.submit("flood", "batch")
    scheduler.pop()
    scheduler.charge(("flood", "batch"), prompt_tokens=500)
    assert scheduler.pop_sparse(8) is None  # the flood has work running and waiting

    served = scheduler.submit("served", "batch")
    scheduler.charge(("served", "batch"), prompt_tokens=50)
    newcomer = scheduler.submit("newcomer", "batch")

    assert scheduler.pop_sparse(8) is newcomer
    assert scheduler.pop_sparse(8) is served
    assert scheduler.pop_sparse(8) is None


def test_cancel_withdraws_only_queued_requests() -> None:
    scheduler = FairScheduler(clock=ManualClock(start=0.0))
    first = scheduler.submit("a", "batch")
    second = scheduler.submit("a", "batch")
    assert scheduler.pop() is first

    assert scheduler.cancel(first) is False
    assert scheduler.cancel(second) is True
    assert scheduler.pop() is None


def test_jain_is_one_for_equal_shares_and_one_over_n_when_one_takes_all() -> None:
    assert jain_index([3.0, 3.0, 3.0]) == pytest.approx(1.0)
    assert jain_index([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert jain_index([5.0]) is None


def test_the_scheduler_refuses_unknown_job_classes_and_bad_weights() -> None:
    with pytest.raises(ValueError, match="weight of 'x'"):
        FairScheduler(weights={"x": 0.0}, clock=ManualClock())
    with pytest.raises(ValueError, match="batch_floor"):
        FairScheduler(batch_floor=1.5, clock=ManualClock())
    with pytest.raises(ValueError, match="unknown job class"):
        FairScheduler(clock=ManualClock()).submit("a", "urgent")  # type: ignore[arg-type]


# -- prefix affinity ------------------------------------------------------------------------------

TEMPLATE = "You write acrostic clues. " * 30


def test_affinity_returns_the_backend_that_served_a_prefix_while_it_is_not_overloaded() -> None:
    clock = ManualClock(start=0.0)
    affinity = PrefixAffinity(clock=clock, max_imbalance=0.25)
    key = affinity.key([{"role": "system", "content": TEMPLATE}, {"role": "user", "content": "A"}])
    other = affinity.key(
        [{"role": "system", "content": TEMPLATE}, {"role": "user", "content": "B"}]
    )
    assert key == other  # the shared template decides the key, not the question

    affinity.remember(key, "gpu-1")

    assert affinity.choose(key, {"gpu-0": (0, 4), "gpu-1": (1, 4)}) == "gpu-1"
    assert affinity.choose(key, {"gpu-0": (0, 4), "gpu-1": (3, 4)}) is None  # imbalance guard
    clock.advance(1_000)
    assert affinity.choose(key, {"gpu-0": (0, 4), "gpu-1": (1, 4)}) is None  # forgotten


def test_short_prompts_have_no_affinity_key() -> None:
    affinity = PrefixAffinity(clock=ManualClock())
    assert affinity.key([{"role": "user", "content": "hi"}]) is None


# -- configuration --------------------------------------------------------------------------------


def test_fairness_settings_load_from_yaml() -> None:
    settings_ = load_fairness(
        "tenants:\n  site-a: 2\n  site-b: {weight: 0.5}\n"
        "output_weight: 3\nbatch_floor: 0.2\ndefault_weight: 1.5\npolicy: fifo\nheadroom: 2\n"
        "burst: 500\n"
    )
    assert settings_ == FairnessSettings(
        weights={"site-a": 2.0, "site-b": 0.5},
        default_weight=1.5,
        input_weight=1.0,
        output_weight=3.0,
        batch_floor=0.2,
        policy="fifo",
        headroom=2,
        burst=500.0,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tenants:\n  a: 0\n", "weight of tenant 'a' must be a number > 0"),
        ("tenants:\n  a: {share: 2}\n", "tenant 'a' takes only 'weight'"),
        ("batch_floor: 2\n", "batch_floor must be within"),
        ("priority: 1\n", "key 'priority' is not known"),
        ("- a\n", "expected a mapping"),
        ("policy: lottery\n", "policy must be fair or fifo"),
        ("headroom: -1\n", "headroom must be an integer >= 0"),
    ],
)
def test_bad_fairness_settings_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_fairness(text)


def test_fairness_settings_come_from_the_file_named_by_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants:\n  a: 3\n")
    assert fairness_from_env({"GATE_LLM_TENANTS": str(path)}).weights == {"a": 3.0}
    assert fairness_from_env({}) == FairnessSettings()
    with pytest.raises(ConfigError, match="no such file"):
        fairness_from_env({"GATE_LLM_TENANTS": str(tmp_path / "missing.yaml")})


def test_a_backend_kind_is_openai_by_default_or_gate_worker() -> None:
    plain, worker = load_backends(
        "- {name: a, base_url: 'http://a/v1', model: m}\n"
        "- {name: w, base_url: 'http://w:8000/v1', model: m, kind: gate-worker}\n"
    )
    assert (plain.kind, worker.kind, worker.queue_url) == (
        "openai",
        "gate-worker",
        "http://w:8000/queue",
    )
    with pytest.raises(ConfigError, match="field 'kind' must be one of"):
        load_backends("- {name: a, base_url: 'http://a/v1', model: m, kind: vllm}\n")


# -- the pool driving the scheduler ---------------------------------------------------------------


def sse_body(parts: list[str], usage: tuple[int, int] | None) -> list[bytes]:
    def event(choices: list[dict[str, Any]], usage_: dict[str, int] | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": choices,
        }
        if usage_ is not None:
            body["usage"] = usage_
        return f"data: {json.dumps(body)}\n\n".encode()

    events = [event([{"index": 0, "delta": {"content": p}, "finish_reason": None}]) for p in parts]
    events.append(event([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    if usage is not None:
        total = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
        events.append(event([], {**total, "total_tokens": sum(usage)}))
    events.append(b"data: [DONE]\n\n")
    return events


class GatedStream(httpx2.AsyncByteStream):
    """Streams its events, pausing before the ones listed until the test opens the gate."""

    def __init__(self, events: list[bytes], gate: asyncio.Event, pause_before: int) -> None:
        self.events = events
        self.gate = gate
        self.pause_before = pause_before

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index, event in enumerate(self.events):
            if index == self.pause_before:
                await self.gate.wait()
            yield event


class Servers:
    """Fake backends: each chat request is recorded and held until released (``hold``) or
    answered at once; gate workers answer /queue with what the test sets."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.requests: list[httpx2.Request] = []
        self.hold = False
        self.release = asyncio.Event()
        self.queues: dict[str, dict[str, Any]] = {}
        self.service_s = 0.0
        self.usage: tuple[int, int] | None = (20, 5)
        self.parts = ["one ", "two ", "three"]

    def chats(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path.endswith("/completions")]

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host.removesuffix(".test")
        if request.url.path == "/queue":
            return httpx2.Response(200, json=self.queues[host])
        self.requests.append(request)
        if self.hold:
            await self.release.wait()
        self.clock.advance(self.service_s)
        events = sse_body(self.parts, self.usage)
        return httpx2.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=GatedStream(events, self.release, len(events) if not self.hold else 1),
        )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1000.0)


@pytest.fixture
def servers(clock: ManualClock) -> Servers:
    return Servers(clock)


@pytest.fixture
async def make_pool(servers: Servers, clock: ManualClock) -> AsyncIterator[Callable[..., LLMPool]]:
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(servers.handle))

    def build(*backends: Backend, **options: Any) -> LLMPool:
        # No headroom by default, so that these tests see the caps and the queue order alone.
        options.setdefault("fairness", FairnessSettings(headroom=0))
        return LLMPool(list(backends), http_client=client, clock=clock, **options)

    yield build
    await client.aclose()


def backend(name: str, **overrides: Any) -> Backend:
    fields: dict[str, Any] = {"name": name, "base_url": f"http://{name}.test/v1", "model": "m"}
    fields.update(overrides)
    return Backend(**fields)


def tags(tenant: str, job_class: JobClass = "batch", **extra: Any) -> CallTags:
    return CallTags(tenant=tenant, job_class=job_class, **extra)


async def settle(times: int = 30) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


def ask(pool: LLMPool, call_tags: CallTags, text: str = "q", **kwargs: Any) -> Any:
    messages = [{"role": "user", "content": text}]
    return asyncio.ensure_future(pool.chat(messages, tags=call_tags, max_tokens=8, **kwargs))


async def test_every_call_names_its_tenant_in_user_and_header(
    servers: Servers, make_pool: Callable[..., LLMPool]
) -> None:
    pool = make_pool(backend("a"))
    await ask(pool, tags("site-a"))
    request = servers.requests[0]
    assert json.loads(request.content)["user"] == "site-a"
    assert request.headers["x-gate-tenant"] == "site-a"


async def test_a_flooding_tenant_does_not_make_a_light_one_wait_behind_its_queue(
    servers: Servers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.hold = True
    pool = make_pool(backend("a", max_in_flight=1))
    flood = [ask(pool, tags("heavy")) for _ in range(6)]
    await settle()
    light = [ask(pool, tags("light")) for _ in range(2)]
    await settle()
    servers.hold = False
    servers.release.set()
    await asyncio.gather(*flood, *light)

    order = [chat["user"] for chat in servers.chats()]
    # The first heavy call already held the slot; after it the two flows alternate.
    assert order[:5] == ["heavy", "light", "heavy", "light", "heavy"]


async def test_headroom_lets_a_tenant_below_its_share_start_while_the_flood_waits(
    servers: Servers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.hold = True
    pool = make_pool(backend("a", max_in_flight=2), fairness=FairnessSettings(headroom=1))
    flood = [ask(pool, tags("heavy")) for _ in range(5)]
    await settle()
    light = ask(pool, tags("light"))
    second = ask(pool, tags("light"))
    await settle()

    # heavy holds both slots; light's first call takes the headroom slot, its second waits.
    assert sorted(chat["user"] for chat in servers.chats()) == ["heavy", "heavy", "light"]
    assert pool.snapshot()["backends"][0]["in_flight"] == 3
    servers.hold = False
    servers.release.set()
    await asyncio.gather(*flood, light, second)


def test_fifo_policy_dispatches_in_arrival_order_across_flows_and_bands() -> None:
    scheduler = FairScheduler(clock=ManualClock(), fifo=True)
    order = [("a", "batch"), ("a", "batch"), ("b", "interactive"), ("a", "batch")]
    tickets = [scheduler.submit(tenant, job_class) for tenant, job_class in order]  # type: ignore[arg-type]
    assert [scheduler.pop() for _ in order] == tickets
    assert scheduler.pop_sparse(8) is None


async def test_interactive_calls_go_ahead_of_queued_batch_calls(
    servers: Servers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.hold = True
    pool = make_pool(
        backend("a", max_in_flight=1), fairness=FairnessSettings(batch_floor=0.0, headroom=0)
    )
    batch = [ask(pool, tags("t", "batch", job_id=str(i))) for i in range(4)]
    await settle()
    preview = ask(pool, tags("admin", "interactive"))
    await settle()
    servers.hold = False
    servers.release.set()
    await asyncio.gather(*batch, preview)

    assert [chat["user"] for chat in servers.chats()][:2] == ["t", "admin"]


async def test_output_is_charged_to_the_flow_while_it_streams_and_reconciled_at_the_end(
    servers: Servers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.hold = True
    servers.parts = ["x" * 40]  # about 10 tokens by the character estimate
    servers.usage = (20, 7)
    pool = make_pool(backend("a"), fairness=FairnessSettings(output_weight=1.0))
    call = ask(pool, tags("t"))
    await settle()
    servers.release.set()  # the first event (the text) flows; the rest waits on the same gate
    servers.hold = False
    completion = await call

    (flow,) = pool.scheduler.stats()
    assert (flow.prompt_tokens, flow.output_tokens) == (20, 7)  # the server's final usage
    assert flow.service == 27
    assert completion.completion_tokens == 7
    assert completion.queued_s == 0.0
    assert completion.ttft_s is not None


async def test_flow_figures_reach_the_prometheus_registry(
    servers: Servers, make_pool: Callable[..., LLMPool]
) -> None:
    pool = make_pool(backend("a"), name="metrics-test")
    await ask(pool, tags("site-m"))

    labels = {"pool": "metrics-test", "tenant": "site-m", "job_class": "batch"}
    sample = REGISTRY.get_sample_value
    assert sample("gate_llm_flow_service_tokens", labels) == 20 + 2 * 5  # default weights 1 and 2
    assert sample("gate_llm_flow_queued", labels) == 0
    assert sample("gate_llm_flow_in_flight", labels) == 0
    assert sample("gate_llm_flow_wait_seconds_count", labels) == 1


async def test_streamed_output_counts_before_the_call_ends(
    clock: ManualClock, make_pool: Callable[..., LLMPool]
) -> None:
    gate = asyncio.Event()

    async def handler(request: httpx2.Request) -> httpx2.Response:
        events = sse_body(["y" * 40, "z" * 40], (10, 20))
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, stream=GatedStream(events, gate, 2)
        )

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
        pool = LLMPool([backend("a")], http_client=client, clock=clock)
        call = ask(pool, tags("t"))
        await settle()
        mid = pool.scheduler.stats()[0]
        gate.set()
        await call
    assert mid.in_flight == 1
    assert mid.output_tokens == 20  # two 40-character chunks arrived: 20 estimated tokens
    assert pool.scheduler.stats()[0].output_tokens == 20


async def test_a_call_whose_deadline_cannot_be_met_is_shed_at_once_without_a_request(
    servers: Servers, make_pool: Callable[..., LLMPool]
) -> None:
    pool = make_pool(backend("a", max_in_flight=1))
    servers.service_s = 4.0  # each call keeps the backend 4 s (manual clock)
    await ask(pool, tags("t"))
    servers.hold = True
    busy = [ask(pool, tags("t")) for _ in range(3)]
    await settle()
    sent = len(servers.requests)

    with pytest.raises(LLMShed, match=r"would wait about .* beyond its 5\.0s deadline") as caught:
        await ask(pool, tags("other", deadline_s=5.0))

    assert isinstance(caught.value, LLMError)
    assert caught.value.estimated_wait_s > 5.0
    assert len(servers.requests) == sent
    servers.hold = False
    servers.release.set()
    await asyncio.gather(*busy)


async def test_a_queued_call_whose_deadline_passes_is_shed_instead_of_sent(
    servers: Servers, clock: ManualClock, make_pool: Callable[..., LLMPool]
) -> None:
    servers.hold = True
    pool = make_pool(backend("a", max_in_flight=1))
    running = ask(pool, tags("t"))
    await settle()
    late = ask(pool, tags("u"), deadline=2.0)  # nothing measured yet: admitted
    await settle()
    clock.advance(3.0)
    servers.hold = False
    servers.release.set()
    await running

    with pytest.raises(LLMShed):
        await late
    assert [chat["user"] for chat in servers.chats()] == ["t"]


async def test_a_cancelled_queued_call_leaves_the_queue_and_the_next_one_runs(
    servers: Servers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.hold = True
    pool = make_pool(backend("a", max_in_flight=1))
    running = ask(pool, tags("t"))
    await settle()
    abandoned = ask(pool, tags("u"))
    waiting = ask(pool, tags("v"))
    await settle()
    abandoned.cancel()
    await settle()
    servers.hold = False
    servers.release.set()
    await asyncio.gather(running, waiting)

    assert [chat["user"] for chat in servers.chats()] == ["t", "v"]
    assert pool.snapshot()["backends"][0]["in_flight"] == 0


async def test_prompts_sharing_a_template_stick_to_one_backend(
    servers: Servers, make_pool: Callable[..., LLMPool]
) -> None:
    pool = make_pool(backend("a"), backend("b"))
    for question in ("one", "two", "three"):
        messages = [
            {"role": "system", "content": TEMPLATE},
            {"role": "user", "content": question},
        ]
        await pool.chat(messages, tags=tags("t"), max_tokens=8)
    assert {r.url.host for r in servers.requests} == {"a.test"}
    assert pool.affinity.hits == 2


async def test_gate_worker_queues_are_polled_used_for_routing_and_shown_in_the_snapshot(
    servers: Servers, make_pool: Callable[..., LLMPool]
) -> None:
    busy = {"model": "m", "running": 6, "waiting": 9, "max_batch": 8, "kv_blocks_free": 1,
            "kv_blocks_total": 64, "tenants": {}}  # fmt: skip
    idle = {**busy, "running": 0, "waiting": 0, "kv_blocks_free": 64}
    servers.queues = {"w1": busy, "w2": idle}
    pool = make_pool(
        backend("w1", kind="gate-worker"), backend("w2", kind="gate-worker"), backend("o")
    )

    polled = await pool.poll_queues()
    await ask(pool, tags("t"))

    assert polled == {"w1": busy, "w2": idle}
    assert servers.requests[-1].url.host == "w2.test"  # w1 is busy with other clients' work
    shown = {b["name"]: b for b in pool_snapshot(pool)["backends"]}
    assert shown["w1"]["queue"] == busy
    assert (shown["w1"]["kind"], shown["o"]["kind"], shown["o"]["queue"]) == (
        "gate-worker",
        "openai",
        None,
    )


async def test_the_snapshot_reports_flows_with_weights_queues_service_and_waits(
    servers: Servers, clock: ManualClock, make_pool: Callable[..., LLMPool]
) -> None:
    servers.hold = True
    pool = make_pool(
        backend("a", max_in_flight=1),
        name="factory",
        fairness=FairnessSettings(weights={"big": 2.0}, output_weight=1.0, headroom=0),
    )
    calls = [ask(pool, tags("big")), ask(pool, tags("small"))]
    await settle()
    queued = pool_snapshot(pool)
    clock.advance(1.5)
    servers.hold = False
    servers.release.set()
    await asyncio.gather(*calls)
    done = pool_snapshot(pool)

    assert queued["name"] == "factory"
    flows = {f["tenant"]: f for f in queued["flows"]}
    assert (flows["big"]["in_flight"], flows["small"]["queued"]) == (1, 1)
    assert flows["big"]["weight"] == 2.0
    flows = {f["tenant"]: f for f in done["flows"]}
    assert flows["small"]["wait_max_s"] == pytest.approx(1.5)
    assert (flows["small"]["prompt_tokens"], flows["small"]["output_tokens"]) == (20, 5)
    assert flows["small"]["service"] == 25.0
    json.dumps(done, allow_nan=False)  # the dashboard reads it as JSON


async def test_snapshots_are_published_listed_and_expire(store: Store) -> None:
    first = {"name": "gen", "at": 1.0, "jain": 0.99, "backends": [], "flows": []}
    second = {**first, "name": "solve", "jain": None}
    await publish_snapshot(store, first)
    await publish_snapshot(store, second)
    await publish_snapshot(store, {**first, "at": 2.0})

    assert await read_pool_snapshots(store) == [{**first, "at": 2.0}, second]

    await store.delete(snapshot_key("gen"))  # what the 30 s TTL does to a pool that stopped
    assert await read_pool_snapshots(store) == [second]


async def test_publish_every_keeps_each_pools_snapshot_in_the_store(
    make_pool: Callable[..., LLMPool], store: Store
) -> None:
    pools = [make_pool(backend("a"), name="gen@1"), make_pool(backend("b"), name="solve@1")]
    publishing = asyncio.create_task(publish_every(pools, store, interval=3600))
    for _ in range(200):
        if len(await read_pool_snapshots(store)) == 2:
            break
        await asyncio.sleep(0)
    publishing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await publishing

    shown = await read_pool_snapshots(store)
    assert [s["name"] for s in shown] == ["gen@1", "solve@1"]
    assert shown[0]["backends"][0]["name"] == "a"


# -- against the real gate worker (in-process, its own ASGI app) -----------------------------------


async def test_the_pool_reads_a_real_gate_workers_queue_and_its_tenant_figures() -> None:
    """The /queue contract, end to end: the tenant the pool sends as ``user`` shows up in the
    worker's per-tenant figures, which the pool's snapshot carries."""
    from puzzles.worker.app import create_app
    from puzzles.worker.engine import ContinuousBatchingBackend, EngineOptions
    from puzzles.worker.model import random_model

    engine = ContinuousBatchingBackend(
        random_model("llama"), EngineOptions(block_size=16, num_blocks=64, max_batch_tokens=128)
    )
    transport = httpx2.ASGITransport(app=create_app(engine))
    try:
        async with httpx2.AsyncClient(transport=transport) as client:
            pool = LLMPool(
                [backend("worker", base_url="http://worker/v1", kind="gate-worker")],
                http_client=client,
            )
            completion = await pool.chat(
                [{"role": "user", "content": "Hello"}], tags=tags("site-w"), max_tokens=4
            )
            await pool.poll_queues()
    finally:
        engine.close()

    queue = pool_snapshot(pool)["backends"][0]["queue"]
    assert queue is not None and queue["running"] == 0
    assert queue["tenants"]["site-w"]["output_tokens"] == completion.completion_tokens == 4
    assert completion.usage_reported
