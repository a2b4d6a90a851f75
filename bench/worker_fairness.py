"""Fairness and throughput of ``gate worker``'s engines: stock transformers continuous batching
(FIFO) against the fast engine (``puzzles.worker.fast``) under FIFO and under the fair (VTC) planner.

Run on a GPU: ``python bench/worker_fairness.py`` (a random-init ~1.1B Llama, TinyLlama's shape).
Check here on the CPU: ``.venv/bin/python bench/worker_fairness.py --smoke``.

In-process, on the backend objects the HTTP server drives (``--runs engine:policy,...``):

- two flooding tenants keep ``--outstanding`` requests each in flight, closed loop, for
  ``--duration`` seconds: ``flood-big`` (long prompts and answers) and ``flood-small`` (short ones),
  so FIFO, which serves requests, gives them unequal token service while VTC evens it out;
- a ``light`` tenant sends one short request every ``1/--light-rate`` seconds, open loop.

Figures: Jain's index of weighted service over 10 s windows among the tenants backlogged in the
window (a request waiting for admission at least half the window); the accumulated service gap
between backlogged tenants over time (at thirds of the run, and the maximum); the light tenant's
time to first token, p50/p99, against a solo run of the same light load; weighted tokens/s
(``w_in`` per prompt token, ``w_out`` per generated token) and output tokens/s against FIFO.

``--throughput`` runs the issue's throughput workload instead (N requests of 256 prompt / 128
output tokens submitted at once) under each policy and engine setting listed, with the ratio to
the first setting (the old path: transformers' engine) in the same run; ``--profile`` adds where
the fast engine's step time goes (engine-thread timings and the top CUDA kernels).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import random
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any

from puzzles.worker.backend import Finished, SamplingParams
from puzzles.worker.engine import ContinuousBatchingBackend
from puzzles.worker.fast import FastBackend
from puzzles.worker.model import LoadedModel, random_model
from puzzles.worker.options import EngineOptions

Engine = ContinuousBatchingBackend | FastBackend


def jain_index(values: list[float]) -> float | None:
    """``puzzles.llm.flows.jain_index``, restated: importing ``puzzles.llm`` pulls the pool's HTTP
    client stack (openai, httpx2, pydantic), which a GPU box running only the worker lacks."""
    if len(values) < 2:
        return None
    squares = sum(v * v for v in values)
    return 1.0 if squares == 0 else sum(values) ** 2 / (len(values) * squares)


WINDOW_S = 10.0
SAMPLE_S = 0.25


@dataclass(frozen=True)
class Load:
    name: str
    prompt: int
    output: int


@dataclass
class Run:
    policy: str
    started: float = 0.0
    ended: float = 0.0
    samples: list[tuple[float, dict[str, tuple[float, int]]]] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    ttft_at: list[tuple[float, float]] = field(default_factory=list)  # (sent, ttft)
    admit_wait: list[float] = field(default_factory=list)  # engine: created -> scheduled
    steps_to_first: list[int] = field(default_factory=list)  # engine steps from send to 1st token
    steps: list[tuple[float, int]] = field(default_factory=list)  # (time, engine steps so far)
    engine_ttft: list[float] = field(default_factory=list)  # engine: created -> first delivery
    output_tokens: int = 0


def _prompt(rng: random.Random, length: int) -> list[int]:
    return [rng.randrange(3, 250) for _ in range(length)]


async def _one(
    backend: Engine,
    rng: random.Random,
    load: Load,
    run: Run | None,
    *,
    stream: bool,
) -> None:
    params = SamplingParams(max_new_tokens=load.output)
    sent = time.perf_counter()
    sent_step = _steps(backend)
    first = True

    def trace(output: Any) -> None:
        if run is not None and stream:
            now = time.perf_counter()
            run.admit_wait.append(output.lifespan[0] - output.created_time)
            run.engine_ttft.append(now - output.created_time)
            run.steps_to_first.append(_steps(backend) - sent_step)

    async for event in backend.stream_tokens(
        _prompt(rng, load.prompt),
        params,
        tenant=load.name,
        text=False,
        streaming=stream,
        trace=trace,
    ):
        if first and run is not None and stream:
            run.ttft.append(time.perf_counter() - sent)
            run.ttft_at.append((sent - run.started, run.ttft[-1]))
        first = False
        if isinstance(event, Finished) and run is not None:
            run.output_tokens += event.completion_tokens


def _steps(backend: Engine) -> int:
    return backend.steps


async def _flood(
    backend: Engine,
    load: Load,
    outstanding: int,
    run: Run,
    stop: asyncio.Event,
) -> None:
    rng = random.Random(load.name)

    async def worker() -> None:
        while not stop.is_set():
            await _one(backend, rng, load, run, stream=False)

    tasks = [asyncio.create_task(worker()) for _ in range(outstanding)]
    await stop.wait()
    for task in tasks:
        task.cancel()  # closes the generators: the engine cancels and frees their cache
    await asyncio.gather(*tasks, return_exceptions=True)


async def _light(backend: Engine, load: Load, rate: float, run: Run, stop: asyncio.Event) -> None:
    rng = random.Random(load.name)
    tasks: list[asyncio.Task[None]] = []
    while not stop.is_set():
        tasks.append(asyncio.create_task(_one(backend, rng, load, run, stream=True)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0 / rate)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _sample(backend: Engine, run: Run, stop: asyncio.Event) -> None:
    while not stop.is_set():
        view = backend.queue()
        stamp = time.perf_counter() - run.started
        run.samples.append((stamp, {t: (v.service, v.waiting) for t, v in view.tenants.items()}))
        run.steps.append((stamp, _steps(backend)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_S)


async def _scenario(
    backend: Engine,
    policy: str,
    floods: list[Load],
    light: Load,
    args: argparse.Namespace,
    duration: float,
) -> Run:
    run = Run(policy)
    stop = asyncio.Event()
    run.started = time.perf_counter()
    tasks = [asyncio.create_task(_sample(backend, run, stop))]
    tasks += [asyncio.create_task(_flood(backend, f, args.outstanding, run, stop)) for f in floods]
    tasks.append(asyncio.create_task(_light(backend, light, args.light_rate, run, stop)))
    await asyncio.sleep(duration)
    run.ended = time.perf_counter()
    stop.set()
    await asyncio.gather(*tasks)
    return run


def _service(sample: dict[str, tuple[float, int]], tenant: str) -> float:
    return sample.get(tenant, (0.0, 0))[0]


def fairness(run: Run, tenants: list[str]) -> dict[str, Any]:
    """Jain per 10 s window among backlogged tenants, and the accumulated service gap.

    Backlogged: the tenant had a request waiting for admission in at least 90% of the samples (of
    the window for Jain; since the start for the gap).  A tenant whose demand is below its fair
    share is served at once and so is not backlogged: fairness is owed among those who want more.
    """
    samples = run.samples
    base = samples[0][1]

    def waiting(sample: dict[str, tuple[float, int]], tenant: str) -> bool:
        return sample.get(tenant, (0.0, 0))[1] > 0

    def backlogged(inside: list[tuple[float, dict[str, tuple[float, int]]]]) -> list[str]:
        return [t for t in tenants if sum(waiting(s[1], t) for s in inside) >= 0.9 * len(inside)]

    jains: list[float] = []
    windows = 0
    start = 0.0
    end_time = samples[-1][0]
    while start + WINDOW_S <= end_time + SAMPLE_S:
        inside = [s for s in samples if start <= s[0] <= start + WINDOW_S]
        first, last = inside[0][1], inside[-1][1]
        members = backlogged(inside)
        windows += 1
        index = jain_index([_service(last, t) - _service(first, t) for t in members])
        if index is not None:  # None with fewer than two backlogged tenants
            jains.append(index)
        start += WINDOW_S
    gaps: list[tuple[float, float]] = []
    for i, (stamp, sample) in enumerate(samples):
        members = backlogged(samples[: i + 1])
        served = [_service(sample, t) - _service(base, t) for t in members]
        gaps.append((stamp, max(served) - min(served) if len(served) >= 2 else 0.0))

    def gap_in(lo: float, hi: float) -> float:
        return max((g for s, g in gaps if end_time * lo <= s <= end_time * hi), default=0.0)

    elapsed = run.ended - run.started
    served = {t: _service(samples[-1][1], t) - _service(base, t) for t in tenants}
    return {
        "jain_min": min(jains) if jains else None,
        "jain_mean": statistics.fmean(jains) if jains else None,
        "windows_2plus": len(jains),
        "windows": windows,
        "gap_thirds": [gap_in(0, 1 / 3), gap_in(1 / 3, 2 / 3), gap_in(2 / 3, 1)],
        "service_per_s": sum(served.values()) / elapsed,
        "served": served,
    }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _backend(loaded: LoadedModel, options: EngineOptions) -> Engine:
    import torch

    # The previous engine's cache and graph pools must be gone before this one sizes its cache.
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if options.engine == "fast":
        return FastBackend(loaded, options)
    return ContinuousBatchingBackend(loaded, options)


async def _warm(backend: Engine, loads: list[Load]) -> None:
    rng = random.Random(0)
    await asyncio.gather(*[_one(backend, rng, load, None, stream=True) for load in loads * 2])
    if isinstance(backend, FastBackend):
        runner = backend.runner
        print(
            f"  engine: fast, slots={backend.slots}, token_budget={backend.batcher.token_budget},"
            f" attention={runner.attention}, cuda_graphs={runner.graphs_enabled},"
            f" policy={backend.batcher.policy}, preemption={backend.batcher.preemption}",
            flush=True,
        )
        return
    config = backend._manager.continuous_batching_config
    names = ("num_blocks", "max_batch_tokens", "max_requests_per_batch", "use_cuda_graph")
    names += ("use_async_batching", "max_blocks_per_request", "scheduler_type")
    print("  engine:", ", ".join(f"{n}={getattr(config, n, None)}" for n in names), flush=True)


async def fairness_bench(
    loaded: LoadedModel, args: argparse.Namespace, base: EngineOptions
) -> None:
    floods = [Load("flood-big", *args.big), Load("flood-small", *args.small)][: args.floods]
    light = Load("light", *args.light)
    tenants = [f.name for f in floods] + [light.name]

    solos: dict[str, Run] = {}
    results: dict[str, tuple[Run, dict[str, Any]]] = {}
    for name in args.runs:
        engine, policy = name.split(":")
        options = _engine_options(base, engine)
        if engine not in solos:
            solo_backend = _backend(loaded, replace(options, scheduler="fifo"))
            try:
                await _warm(solo_backend, [*floods, light])
                solos[engine] = await _scenario(
                    solo_backend, f"{engine} solo", [], light, args, args.solo_duration
                )
            finally:
                solo_backend.close()
                del solo_backend
        backend = _backend(loaded, replace(options, scheduler=policy))
        try:
            await _warm(backend, [*floods, light])
            run = await _scenario(backend, name, floods, light, args, args.duration)
            if isinstance(backend, FastBackend):
                print(f"  {name}: preemptions {backend.batcher.preempted}", flush=True)
        finally:
            backend.close()
            del backend
        results[name] = (run, fairness(run, tenants))

    def out_rate(run: Run) -> float:
        return run.output_tokens / (run.ended - run.started)

    stock = results.get("transformers:fifo")
    for engine, solo in solos.items():
        print(
            f"\nlight solo TTFT on {engine}: p50 {_pct(solo.ttft, 0.5) * 1000:.0f} ms,"
            f" p99 {_pct(solo.ttft, 0.99) * 1000:.0f} ms ({len(solo.ttft)} requests)"
        )
    print(
        "\n| engine:policy | Jain min / mean (windows >=2 backlogged) | max service gap per third |"
        " light TTFT p50 / p99 (x solo p99, same engine) | weighted tok/s (x same-engine FIFO) |"
        " output tok/s (x stock FIFO) |"
    )
    print("|" + "---|" * 6)
    summary: dict[str, Any] = {
        f"{e}_solo_ttft_ms": [_pct(r.ttft, 0.5) * 1000, _pct(r.ttft, 0.99) * 1000]
        for e, r in solos.items()
    }
    for name, (run, fair) in results.items():
        engine = name.split(":")[0]
        same_fifo = results.get(f"{engine}:fifo")
        p50, p99 = _pct(run.ttft, 0.5), _pct(run.ttft, 0.99)
        solo_p99 = _pct(solos[engine].ttft, 0.99)
        jain = (
            f"{fair['jain_min']:.3f} / {fair['jain_mean']:.3f} ({fair['windows_2plus']}/{fair['windows']})"
            if fair["jain_min"] is not None
            else f"n/a (0/{fair['windows']})"
        )
        gaps = ", ".join(f"{g:,.0f}" for g in fair["gap_thirds"])
        ratio = (
            f" ({fair['service_per_s'] / same_fifo[1]['service_per_s']:.2f}x)" if same_fifo else ""
        )
        out_ratio = (
            f" ({out_rate(run) / out_rate(stock[0]):.2f}x)"
            if stock and stock[0].output_tokens
            else ""
        )
        print(
            f"| {name} | {jain} | {gaps} | {p50 * 1000:.0f} / {p99 * 1000:.0f} ms"
            f" ({p99 / solo_p99:.1f}x) | {fair['service_per_s']:,.0f}{ratio} |"
            f" {out_rate(run):,.0f}{out_ratio} |"
        )
        summary[name] = fair | {"ttft_ms": [p50 * 1000, p99 * 1000], "output_per_s": out_rate(run)}
    labelled = [(f"{e} solo", (r, None)) for e, r in solos.items()] + list(results.items())
    print(
        "\nlight requests inside the engine, p50 / p99 (ms): admission wait; first token delivered"
    )
    for policy, (run, _) in labelled:
        print(
            f"  {policy}: {_pct(run.admit_wait, 0.5) * 1000:.0f} / {_pct(run.admit_wait, 0.99) * 1000:.0f};"
            f" {_pct(run.engine_ttft, 0.5) * 1000:.0f} / {_pct(run.engine_ttft, 0.99) * 1000:.0f}"
        )
    print("\nlight TTFT after the first window (the flood has filled the batch), p50 / p99 / max:")
    for policy, (run, _) in labelled:
        steady = [t for at, t in run.ttft_at if at >= WINDOW_S]
        worst = max(run.ttft_at, key=lambda item: item[1], default=(0.0, 0.0))
        print(
            f"  {policy}: {_pct(steady, 0.5) * 1000:.0f} / {_pct(steady, 0.99) * 1000:.0f} /"
            f" {max(steady, default=0.0) * 1000:.0f} ms; worst overall {worst[1] * 1000:.0f} ms"
            f" sent at {worst[0]:.1f} s"
        )
    print("\nengine steps: per second overall; longest sample interval without a step;")
    print("light: engine steps from send to first token, p50 / p99 / max")
    for policy, (run, _) in labelled:
        rate = (run.steps[-1][1] - run.steps[0][1]) / max(1e-9, run.steps[-1][0] - run.steps[0][0])
        stall, last_change = 0.0, run.steps[0]
        for stamp, count in run.steps:
            if count != last_change[1]:
                last_change = (stamp, count)
            stall = max(stall, stamp - last_change[0])
        waits = [float(w) for w in run.steps_to_first]
        print(
            f"  {policy}: {rate:.1f} steps/s; stall {stall:.2f} s;"
            f" {_pct(waits, 0.5):.0f} / {_pct(waits, 0.99):.0f} / {max(waits, default=0):.0f}"
        )
    print("\nweighted service per tenant over the run:")
    for policy, (_, fair) in results.items():
        print(f"  {policy}: " + ", ".join(f"{t} {v:,.0f}" for t, v in fair["served"].items()))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(summary, handle, indent=1)


async def throughput_bench(
    loaded: LoadedModel, args: argparse.Namespace, base: EngineOptions
) -> None:
    load = Load("bulk", args.tp_prompt, args.tp_output)
    print(
        f"\nthroughput: {args.tp_requests} requests of {load.prompt} prompt / {load.output} output"
        " tokens submitted at once"
    )
    rows: list[tuple[str, str, float, float]] = []
    for entry in args.settings:
        setting, _, only = entry.partition(":")
        for policy in [only] if only else args.policies:
            options = _engine_options(base, setting)
            backend = _backend(loaded, replace(options, scheduler=policy))
            try:
                await _warm(backend, [load])
                if isinstance(backend, FastBackend):
                    backend.timings = dict.fromkeys(backend.timings, 0.0)
                run = Run(policy)
                rng = random.Random(1)
                started = time.perf_counter()
                await asyncio.gather(
                    *[_one(backend, rng, load, run, stream=False) for _ in range(args.tp_requests)]
                )
                wall = time.perf_counter() - started
                if isinstance(backend, FastBackend):
                    _print_timings(setting, policy, backend, wall)
                    if args.profile and policy == args.policies[0]:
                        await _kernel_profile(backend, load, args)
            finally:
                backend.close()
                del backend
            rows.append((setting, policy, run.output_tokens / wall, wall))
            print(f"  {setting} {policy}: {rows[-1][2]:,.0f} output tok/s", flush=True)
    old = rows[0][2]
    print(f"\n| setting | policy | output tok/s | x {rows[0][0]} {rows[0][1]} | wall s |")
    print("|---|---|---|---|---|")
    for setting, policy, rate, wall in rows:
        print(f"| {setting} | {policy} | {rate:,.0f} | {rate / old:.2f}x | {wall:.1f} |")


def _print_timings(setting: str, policy: str, backend: FastBackend, wall: float) -> None:
    t = backend.timings
    decode_ms = 1000 * t["decode"] / max(1.0, t["decode_steps"])
    mixed_ms = 1000 * t["mixed"] / max(1.0, t["mixed_steps"])
    print(
        f"  profile {setting} {policy}: wall {wall:.2f} s; decode-only steps {t['decode_steps']:.0f}"
        f" x {decode_ms:.2f} ms = {t['decode']:.2f} s; mixed (prefill) steps"
        f" {t['mixed_steps']:.0f} x {mixed_ms:.2f} ms = {t['mixed']:.2f} s; planning"
        f" {t['plan']:.2f} s; hand-over {t['deliver']:.2f} s; rest (idle, loop)"
        f" {wall - sum(t[k] for k in ('decode', 'mixed', 'plan', 'deliver')):.2f} s",
        flush=True,
    )


async def _kernel_profile(backend: FastBackend, load: Load, args: argparse.Namespace) -> None:
    """A second pass of the same workload under torch.profiler: the top CUDA kernels."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    rng = random.Random(2)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        await asyncio.gather(
            *[_one(backend, rng, load, None, stream=False) for _ in range(args.tp_requests)]
        )
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=18)
    print(table, flush=True)
    if args.json:
        prof.export_chrome_trace(args.json.replace(".json", "-trace.json"))


def _engine_options(base: EngineOptions, setting: str) -> EngineOptions:
    options = replace(base, **_SETTINGS[setting])
    if options.engine == "fast" and _FAST_BUDGET:
        options = replace(options, max_batch_tokens=_FAST_BUDGET[0])
    return options


_FAST_BUDGET: list[int] = []  # --token-budget, for the fast engine only


_SETTINGS: dict[str, dict[str, Any]] = {
    "transformers": {"engine": "transformers"},
    "transformers-graphs": {"engine": "transformers", "cuda_graphs": True},
    "fast": {"engine": "fast"},
    "fast-eager": {"engine": "fast", "cuda_graphs": False},
    "fast-torch": {"engine": "fast", "attention": "torch", "cuda_graphs": False},
    "fast-nopreempt": {"engine": "fast", "preemption": False},
    "fast-b512": {"engine": "fast", "max_batch_tokens": 512},
    "fast-b1024": {"engine": "fast", "max_batch_tokens": 1024},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU, short run")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", default="1b")
    parser.add_argument(
        "--runs",
        default="transformers:fifo,fast:fifo,fast:vtc",
        type=lambda s: s.split(","),
        help="fairness runs, engine-setting:policy (settings: see --settings)",
    )
    parser.add_argument("--policies", default="fifo,vtc", type=lambda s: s.split(","))
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--solo-duration", type=float, default=20.0)
    parser.add_argument("--floods", type=int, default=2, choices=(1, 2))
    parser.add_argument("--outstanding", type=int, default=192, help="per flooding tenant")
    parser.add_argument("--light-rate", type=float, default=2.0, help="light requests per second")
    parser.add_argument("--big", type=int, nargs=2, default=(512, 256), metavar=("IN", "OUT"))
    parser.add_argument("--small", type=int, nargs=2, default=(128, 64), metavar=("IN", "OUT"))
    parser.add_argument("--light", type=int, nargs=2, default=(128, 64), metavar=("IN", "OUT"))
    parser.add_argument("--max-batch", type=int, default=128)
    parser.add_argument("--num-blocks", type=int, default=None)
    parser.add_argument("--block-size", type=int, default=None)
    parser.add_argument("--max-batch-tokens", type=int, default=None)
    parser.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--sampling", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument(
        "--settings",
        default="transformers,fast",
        type=lambda s: s.split(","),
        help=f"throughput settings (setting or setting:policy), the first is the baseline:"
        f" {', '.join(_SETTINGS)}",
    )
    parser.add_argument("--profile", action="store_true", help="with --throughput: kernel table")
    parser.add_argument("--token-budget", type=int, default=None, help="fast engine: tokens a step")
    parser.add_argument("--tp-requests", type=int, default=256)
    parser.add_argument("--tp-prompt", type=int, default=256)
    parser.add_argument("--tp-output", type=int, default=128)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.smoke:
        args.device, args.size = "cpu", "tiny"
        args.duration, args.solo_duration = min(args.duration, 20.0), min(args.solo_duration, 5.0)
        args.outstanding, args.max_batch, args.light_rate = 8, 8, 2.0
        args.big, args.small, args.light = (64, 32), (16, 8), (16, 8)
        args.num_blocks, args.block_size, args.max_batch_tokens = 256, 16, 256
        args.tp_requests, args.tp_prompt, args.tp_output = 16, 32, 16
    if args.token_budget:
        _FAST_BUDGET.append(args.token_budget)
    import torch

    loaded = random_model("llama", size=args.size, device=args.device)
    params = sum(p.numel() for p in loaded.model.parameters())
    card = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    import transformers

    print(
        f"model {loaded.model_id} ({params / 1e9:.2f}B parameters, {loaded.model.dtype}) on {card};"
        f" torch {torch.__version__}, transformers {transformers.__version__}"
    )
    base = EngineOptions(
        sampling=args.sampling,
        ignore_eos=True,
        max_requests_per_batch=args.max_batch,
        num_blocks=args.num_blocks,
        block_size=args.block_size,
        max_batch_tokens=args.max_batch_tokens,
        cuda_graphs=args.cuda_graphs,
        # Half the free memory is far more KV cache than these loads use, and leaves room for
        # CUDA graph pools and the double buffers of async batching.
        max_memory_percent=None if args.smoke else 0.5,
    )
    if args.throughput:
        asyncio.run(throughput_bench(loaded, args, replace(base, max_requests_per_batch=None)))
    else:
        print(
            f"floods {args.floods} x {args.outstanding} outstanding, light {args.light_rate}/s,"
            f" max batch {args.max_batch}, {args.duration:.0f} s per policy"
        )
        asyncio.run(fairness_bench(loaded, args, base))


if __name__ == "__main__":
    main()
