"""Fair vs FIFO pool scheduling when one tenant floods the pool at 10x its capacity.

Run: ``.venv/bin/python bench/pool_fairness.py [--seconds 40] [--tenants 2,8] [--real]``.

Scenario (N tenants, all batch class, weight 1): ``flood`` sends Poisson arrivals at 10x the
pool's capacity; with N > 2, N-2 ``steady-i`` tenants each send at 0.3x capacity (more than their
fair share, so they stay backlogged too); ``light`` sends at ``--light`` (0.5) x its fair share
(capacity / N), and its time to first token (TTFT, queueing included) is compared with a run
where it is alone.

Backends:

* *simulated*: fake OpenAI servers on ``httpx2.MockTransport`` whose streams follow a latency model
  fitted to a real ``gate worker --random-init llama`` on this machine (``--calibrate``, default
  on): prefill ``a + b * prompt``, then one decode step per token of ``c`` seconds, both slowed by
  ``1 + s * (active - 1)`` while ``active`` requests share the engine.  Fair, FIFO and solo runs of
  every N run at the same time, each against its own simulated backends.
* *real* (``--real``): two ``gate worker --random-init llama`` processes as ``gate-worker``
  backends; fair, FIFO and solo run one after another.

Figures: Jain's index over 10 s windows among the tenants backlogged throughout the window
(service normalised by weight; "-" when fewer than two were); the largest gap in accumulated
service among the tenants backlogged over the whole run, and that gap at mid-run and at the end
(flat under fair queuing, growing under FIFO); light-tenant TTFT p50/p99 against its solo run;
total weighted tokens/s against FIFO.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import selectors
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.servers import wait_http
from puzzles.llm import (
    Backend,
    CallTags,
    FairnessSettings,
    LLMError,
    LLMPool,
    estimate_prompt_tokens,
    jain_index,
)

WINDOW_S = 10.0
SAMPLE_S = 0.5
PROMPT = "Give one word that starts with the letter Q and names a bird. " * 6  # ~100 tokens
MAX_TOKENS = 24
# Real workers on two shared CPU cores serve about one request per second: smaller requests give
# the 10 s windows more of them.
REAL_PROMPT = "Name a bird that starts with Q."
REAL_MAX_TOKENS = 8


# -- latency model and simulated backends ---------------------------------------------------------


@dataclass(frozen=True)
class LatencyModel:
    a: float  # prefill base, seconds
    b: float  # prefill per prompt token
    c: float  # one decode step
    s: float  # slowdown per extra active request

    def slowdown(self, active: int) -> float:
        return 1.0 + self.s * max(active - 1, 0)

    def service_s(self, prompt: int, output: int, active: int) -> float:
        return (self.a + self.b * prompt + self.c * output) * self.slowdown(active)


class SimBackend:
    """One fake OpenAI server: concurrent streams share a modelled engine."""

    TOKENS_PER_CHUNK = 4

    def __init__(self, model: LatencyModel) -> None:
        self.model = model
        self.active = 0

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/models"):
            return httpx2.Response(200, json={"object": "list", "data": []})
        body = json.loads(request.content)
        prompt = estimate_prompt_tokens(body["messages"])
        output = int(body["max_tokens"])
        return httpx2.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=_Stream(self._stream(prompt, output)),
        )

    async def _stream(self, prompt: int, output: int) -> AsyncIterator[bytes]:
        model = self.model
        self.active += 1
        try:
            await asyncio.sleep((model.a + model.b * prompt) * model.slowdown(self.active))
            sent = 0
            while sent < output:
                step = min(self.TOKENS_PER_CHUNK, output - sent)
                if sent:  # the first chunk comes out of the prefill
                    await asyncio.sleep(model.c * step * model.slowdown(self.active))
                sent += step
                yield _event([{"index": 0, "delta": {"content": "word" * step}}])
        finally:
            self.active -= 1
        yield _event([{"index": 0, "delta": {}, "finish_reason": "length"}])
        usage = {"prompt_tokens": prompt, "completion_tokens": output}
        yield _event([], {**usage, "total_tokens": prompt + output})
        yield b"data: [DONE]\n\n"


class _Stream(httpx2.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            yield chunk


def _event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
    body: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "created": 0}
    body.update(model="sim", choices=choices)
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n".encode()


class _VirtualSelector(selectors.DefaultSelector):
    """Never blocks: a wait for the next timer moves the loop's virtual clock there instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is not None and timeout > 0:
            self.now += timeout
        return super().select(0)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when every task waits on a timer: the simulated
    runs take no wall time for their sleeps, and CPU load on the machine cannot distort them
    (the pool's own CPU time counts as zero; the real-worker runs measure that)."""

    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(selector=self._virtual)

    def time(self) -> float:
        return self._virtual.now


def simulate(coroutine: Any) -> Any:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


# -- calibration against a real worker ------------------------------------------------------------


async def _timed_call(
    client: openai.AsyncOpenAI, prompt: str, max_tokens: int
) -> tuple[float, float, int, int]:
    started = time.perf_counter()
    first: float | None = None
    usage = (0, 0)
    stream = await client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
        user="calibration",
    )
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
        if chunk.usage:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    total = time.perf_counter() - started
    return first if first is not None else total, total, *usage


async def calibrate(base_url: str, concurrency: int) -> LatencyModel:
    """Fit the latency model: solo calls of two prompt and two output sizes, then ``concurrency``
    calls at once.  The medians of three tries keep one noisy sample from skewing the fit."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=120)
    for attempt in range(3):  # the first calls of a fresh worker may fail while it warms up
        try:
            await _timed_call(client, "warm up", 4)
            break
        except openai.APIError:
            if attempt == 2:
                raise
            await asyncio.sleep(2)

    async def median_of(prompt: str, tokens: int) -> tuple[float, float, int, int]:
        runs = [await _timed_call(client, prompt, tokens) for _ in range(3)]
        return tuple(statistics.median(r[i] for r in runs) for i in range(4))  # type: ignore[return-value]

    short_ttft, _, short_prompt, _ = await median_of("word " * 5, 2)
    long_ttft, _, long_prompt, _ = await median_of("word " * 150, 2)
    b = max((long_ttft - short_ttft) / max(long_prompt - short_prompt, 1), 0.0)
    a = max(short_ttft - b * short_prompt, 1e-3)
    ttft, total, _, produced = await median_of("word " * 5, 32)
    c = max((total - ttft) / max(produced - 1, 1), 1e-4)
    shared = []
    for _ in range(3):
        together = await asyncio.gather(
            *(_timed_call(client, "word " * 5, 32) for _ in range(concurrency))
        )
        shared.append(statistics.median(r[1] for r in together))
    solo_s = a + b * short_prompt + c * produced
    shared_s = statistics.median(shared)
    s = max((shared_s / solo_s - 1) / max(concurrency - 1, 1), 0.0)
    await client.close()
    return LatencyModel(a=a, b=b, c=c, s=s)


# -- one run --------------------------------------------------------------------------------------


@dataclass
class RunResult:
    label: str
    seconds: float
    samples: list[tuple[float, dict[str, float], dict[str, int]]] = field(default_factory=list)
    ttfts: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0


def tenant_rates(tenants: int, capacity_rps: float, light: float) -> dict[str, float]:
    rates = {"flood": 10 * capacity_rps, "light": light * capacity_rps / tenants}
    for i in range(tenants - 2):
        rates[f"steady-{i}"] = 0.3 * capacity_rps
    return rates


async def run_load(
    label: str,
    pool: LLMPool,
    rates: dict[str, float],
    seconds: float,
    seed: int,
    prompt: str = PROMPT,
    max_tokens: int = MAX_TOKENS,
) -> RunResult:
    """Open-loop Poisson arrivals per tenant for ``seconds``; then everything still queued is
    cancelled (the pool withdraws it) and the figures are returned."""
    result = RunResult(label, seconds)
    rng = random.Random(seed)
    messages = [{"role": "user", "content": prompt}]
    calls: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop_at = started + seconds

    async def call(tenant: str) -> None:
        try:
            completion = await pool.chat(
                messages, tags=CallTags(tenant, "batch"), max_tokens=max_tokens
            )
        except LLMError:
            result.errors += 1
            return
        if completion.ttft_s is not None:
            result.ttfts.setdefault(tenant, []).append(completion.ttft_s)

    async def arrivals(tenant: str, rate: float) -> None:
        next_at = loop.time() + rng.expovariate(rate)
        while next_at < stop_at:
            await asyncio.sleep(max(next_at - loop.time(), 0))
            task = asyncio.create_task(call(tenant))
            calls.add(task)
            task.add_done_callback(calls.discard)
            next_at += rng.expovariate(rate)

    async def sampler() -> None:
        while True:
            now = loop.time() - started
            service: dict[str, float] = {}
            queued: dict[str, int] = {}
            for flow in pool.scheduler.stats():
                service[flow.tenant] = service.get(flow.tenant, 0.0) + flow.service / flow.weight
                queued[flow.tenant] = queued.get(flow.tenant, 0) + flow.queued
            result.samples.append((now, service, queued))
            await asyncio.sleep(SAMPLE_S)

    sampling = asyncio.create_task(sampler())
    await asyncio.gather(*(arrivals(tenant, rate) for tenant, rate in rates.items()))
    await asyncio.sleep(max(stop_at - loop.time(), 0))
    sampling.cancel()
    for task in list(calls):
        task.cancel()
    await asyncio.gather(*calls, sampling, return_exceptions=True)
    return result


# -- figures --------------------------------------------------------------------------------------


def window_jains(result: RunResult) -> list[float]:
    values: list[float] = []
    samples = result.samples
    start = 0
    while start < len(samples):
        end = start
        while end + 1 < len(samples) and samples[end + 1][0] - samples[start][0] <= WINDOW_S:
            end += 1
        if samples[end][0] - samples[start][0] < WINDOW_S * 0.9:
            break
        window = samples[start : end + 1]
        backlogged = [
            tenant
            for tenant in window[-1][1]
            if all(sample[2].get(tenant, 0) > 0 for sample in window)
        ]
        first, last = window[0][1], window[-1][1]
        index = jain_index([last[t] - first.get(t, 0.0) for t in backlogged])
        if index is not None:
            values.append(index)
        start = end
    return values


def service_gaps(result: RunResult) -> tuple[float, float, float] | None:
    """(largest gap, gap at mid-run, gap at the end) among tenants backlogged in >= 90% of the
    samples, measured from the first sample where all of them were backlogged."""
    samples = result.samples
    if not samples:
        return None
    tenants = {t for sample in samples for t in sample[1]}
    kept = [
        t for t in tenants if sum(1 for s in samples if s[2].get(t, 0) > 0) >= 0.9 * len(samples)
    ]
    if len(kept) < 2:
        return None
    start = next((i for i, s in enumerate(samples) if all(s[2].get(t, 0) for t in kept)), None)
    if start is None:
        return None
    base = samples[start][1]
    gaps = []
    for _, service, _ in samples[start:]:
        received = [service.get(t, 0.0) - base.get(t, 0.0) for t in kept]
        gaps.append(max(received) - min(received))
    return max(gaps), gaps[len(gaps) // 2], gaps[-1]


def throughput(result: RunResult) -> float:
    if len(result.samples) < 2:
        return 0.0
    first, last = result.samples[0], result.samples[-1]
    served = sum(last[1].values()) - sum(first[1].values())
    return served / (last[0] - first[0])


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def table(rows: list[tuple[str, RunResult, RunResult | None, RunResult]]) -> str:
    head = (
        "| run | policy | Jain 10 s windows min / mean | service gap max / mid / end | "
        "light TTFT p50 / p99 s (solo) | light p99 / solo p99 | weighted tok/s | vs FIFO |"
    )
    lines = [head, "|" + "---|" * 8]
    for name, run, fifo, solo in rows:
        jains = window_jains(run)
        jain = f"{min(jains):.3f} / {statistics.mean(jains):.3f}" if jains else "-"
        gap = service_gaps(run)
        gap_text = f"{gap[0]:.0f} / {gap[1]:.0f} / {gap[2]:.0f}" if gap else "-"
        light = run.ttfts.get("light", [])
        alone = solo.ttfts.get("light", [])
        if light and alone:
            ttft = (
                f"{percentile(light, 0.5):.2f} / {percentile(light, 0.99):.2f} "
                f"({percentile(alone, 0.5):.2f} / {percentile(alone, 0.99):.2f}; n={len(light)})"
            )
            ratio = f"{percentile(light, 0.99) / percentile(alone, 0.99):.1f}x"
        else:
            ttft, ratio = "-", "-"
        rate = throughput(run)
        versus = f"{rate / throughput(fifo):.2f}x" if fifo is not None else "1.00x"
        policy = "fair" if fifo is not None else "FIFO"
        lines.append(f"| {name} | {policy} | {jain} | {gap_text} | {ttft} | {ratio} | "
                     f"{rate:.0f} | {versus} |")  # fmt: skip
    return "\n".join(lines)


# -- scenarios ------------------------------------------------------------------------------------


HEADROOM = 1  # --headroom: the pool's extra slots per backend for sparse flows
BURST = 0.0  # --burst: weighted tokens of credit a flow under its share keeps


def sim_pool(model: LatencyModel, backends: int, cap: int, policy: str) -> LLMPool:
    """A pool over simulated backends, on the running loop's clock (virtual in ``simulate``)."""
    servers = [SimBackend(model) for _ in range(backends)]

    async def route(request: httpx2.Request) -> httpx2.Response:
        return await servers[int(request.url.host.removeprefix("sim"))].handle(request)

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(route), timeout=300)
    configured = [
        Backend(name=f"sim{i}", base_url=f"http://sim{i}/v1", model="sim", max_in_flight=cap)
        for i in range(backends)
    ]
    # Affinity is off here: every prompt shares one template, which would pin all of it to one
    # backend and measure routing rather than scheduling.
    pool = LLMPool(
        configured,
        http_client=client,
        fairness=FairnessSettings(policy=policy, headroom=HEADROOM, burst=BURST),
        clock=asyncio.get_running_loop().time,
    )
    pool.affinity.prefix_chars = 10**9
    return pool


def best_cap(model: LatencyModel, prompt: int, output: int, most: int = 8) -> int:
    """The in-flight cap that gets the most requests per second out of one modelled engine."""
    return max(range(1, most + 1), key=lambda cap: cap / model.service_s(prompt, output, cap))


async def simulated(
    models: dict[str, tuple[LatencyModel, int]],
    tenants: list[int],
    seconds: float,
    light: float,
    backends: int,
) -> list[tuple[str, RunResult, RunResult | None, RunResult]]:
    """Fair, FIFO and solo runs for every (model, tenant count), all at the same time."""
    prompt = estimate_prompt_tokens([{"role": "user", "content": PROMPT}])
    jobs: list[tuple[str, str, dict[str, float], LatencyModel, int]] = []
    for label, (model, cap) in models.items():
        capacity = backends * cap / model.service_s(prompt, MAX_TOKENS, cap)
        print(f"{label}: {backends} backends x cap {cap}, capacity {capacity:.1f} req/s")
        for n in tenants:
            rates = tenant_rates(n, capacity, light)
            name = f"{label} {n} tenants"
            jobs += [(name, "fair", rates, model, cap), (name, "fifo", rates, model, cap)]
            jobs.append((name, "solo", {"light": rates["light"]}, model, cap))
    results = await asyncio.gather(
        *(
            run_load(
                f"{name} {policy}",
                sim_pool(model, backends, cap, "fifo" if policy == "fifo" else "fair"),
                rates,
                seconds,
                seed=i,
            )
            for i, (name, policy, rates, model, cap) in enumerate(jobs)
        )
    )
    rows = []
    for i in range(0, len(jobs), 3):
        fair, fifo, solo = results[i : i + 3]
        rows += [(jobs[i][0], fair, fifo, solo), (jobs[i][0], fifo, None, solo)]
    return rows


def start_workers(count: int, first_port: int) -> list[subprocess.Popen[bytes]]:
    gate = os.path.join(os.path.dirname(sys.executable), "gate")
    processes = []
    for i in range(count):
        command = [gate, "worker", "--random-init", "llama", "--no-sampling"]
        command += ["--port", str(first_port + i)]
        processes.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    return processes


async def wait_ready(ports: list[int], timeout: float = 120.0) -> None:
    async with httpx2.AsyncClient() as client:
        for port in ports:
            await wait_http(client, f"http://127.0.0.1:{port}/queue", timeout=timeout)


async def measure_capacity(backends: list[Backend], seconds: float) -> float:
    """Requests per second the workers complete when the pool keeps every slot busy."""
    pool = LLMPool(backends, fairness=FairnessSettings(headroom=0))
    slots = sum(backend.max_in_flight for backend in backends)
    messages = [{"role": "user", "content": REAL_PROMPT}]
    done = 0
    stop_at = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await pool.chat(messages, tags=CallTags("probe", "batch"), max_tokens=REAL_MAX_TOKENS)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(slots)))
    elapsed = time.perf_counter() - started
    await pool.aclose()
    return done / elapsed


async def real(
    ports: list[int], tenants: list[int], seconds: float, light: float, cap: int
) -> list[tuple[str, RunResult, RunResult | None, RunResult]]:
    configured = [
        Backend(
            name=f"worker{i}",
            base_url=f"http://127.0.0.1:{port}/v1",
            model="m",
            max_in_flight=cap,
            kind="gate-worker",
            timeout=300,
        )
        for i, port in enumerate(ports)
    ]
    capacity = await measure_capacity(configured, seconds=15.0)
    print(f"real: {len(ports)} gate workers x cap {cap}, measured capacity {capacity:.2f} req/s")
    rows = []
    for n in tenants:
        rates = tenant_rates(n, capacity, light)
        runs = {}
        for policy, load in (("solo", {"light": rates["light"]}), ("fair", rates), ("fifo", rates)):
            pool = LLMPool(
                configured,
                fairness=FairnessSettings(
                    policy="fifo" if policy == "fifo" else "fair",
                    headroom=HEADROOM,
                    burst=BURST,
                ),
            )
            pool.affinity.prefix_chars = 10**9
            polling = asyncio.create_task(pool.watch_queues(1.0))
            print(f"real {n} tenants {policy}...", flush=True)
            runs[policy] = await run_load(
                f"real {n} {policy}",
                pool,
                load,
                seconds,
                seed=n,
                prompt=REAL_PROMPT,
                max_tokens=REAL_MAX_TOKENS,
            )
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)
            await pool.aclose()
            await asyncio.sleep(2)  # let the workers drain what the cancelled calls left running
        rows += [
            (f"real {n} tenants", runs["fair"], runs["fifo"], runs["solo"]),
            (f"real {n} tenants", runs["fifo"], None, runs["solo"]),
        ]
    return rows


# A GPU-like engine for reference: batching is nearly free (each extra request slows a step by
# 15 %), so the pool's caps, not the engine, bound throughput.
REFERENCE = LatencyModel(a=0.02, b=0.0004, c=0.03, s=0.15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--tenants", default="2,8")
    parser.add_argument(
        "--light", type=float, default=0.5, help="light tenant's rate x its fair share"
    )
    parser.add_argument("--backends", type=int, default=2)
    parser.add_argument("--cap", type=int, default=4, help="in-flight cap of the reference model")
    parser.add_argument("--real", action="store_true", help="also run against 2 gate workers")
    parser.add_argument("--real-seconds", type=float, default=60.0)
    parser.add_argument("--real-tenants", default="2")
    parser.add_argument("--no-calibrate", action="store_true", help="reference model only")
    parser.add_argument("--port", type=int, default=8311)
    parser.add_argument("--headroom", type=int, default=1, help="pool headroom per backend")
    parser.add_argument("--burst", type=float, default=0.0, help="pool burst credit (tokens)")
    args = parser.parse_args()
    global HEADROOM, BURST
    HEADROOM, BURST = args.headroom, args.burst
    tenants = [int(n) for n in args.tenants.split(",")]
    prompt = estimate_prompt_tokens([{"role": "user", "content": PROMPT}])

    models = {"sim-ref": (REFERENCE, args.cap)}
    workers: list[subprocess.Popen[bytes]] = []
    ports = [args.port + i for i in range(args.backends)]
    try:
        if args.real or not args.no_calibrate:
            workers = start_workers(args.backends if args.real else 1, args.port)
            asyncio.run(wait_ready(ports[: len(workers)]))
        calibrated: LatencyModel | None = None
        if not args.no_calibrate:
            calibrated = asyncio.run(calibrate(f"http://127.0.0.1:{args.port}/v1", 4))
            models["sim-cal"] = (calibrated, best_cap(calibrated, prompt, MAX_TOKENS))
        for label, (model, cap) in models.items():
            print(f"{label} latency model: a={model.a:.4f}s b={model.b * 1000:.3f}ms/token "
                  f"c={model.c * 1000:.1f}ms/step s={model.s:.3f}/extra request, cap {cap}")  # fmt: skip
        started = time.perf_counter()
        rows = simulate(simulated(models, tenants, args.seconds, args.light, args.backends))
        print(f"simulated runs: {time.perf_counter() - started:.0f} s of wall time")
        if args.real:
            cap = models.get("sim-cal", models["sim-ref"])[1]
            real_tenants = [int(n) for n in args.real_tenants.split(",")]
            rows += asyncio.run(real(ports, real_tenants, args.real_seconds, args.light, cap))
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            process.wait(timeout=30)
    print()
    print(table(rows))
    errors = sum(run.errors for _, run, _, _ in rows)
    print(f"\nfailed calls: {errors}; window {WINDOW_S:.0f} s, sampled every {SAMPLE_S} s; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
