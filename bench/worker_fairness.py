"""Fairness and throughput of ``gate worker``'s engine: the fair (VTC) scheduler against FIFO.

Run on a GPU: ``python bench/worker_fairness.py`` (a random-init ~1.1B Llama, TinyLlama's shape).
Check here on the CPU: ``.venv/bin/python bench/worker_fairness.py --smoke``.

In-process, on ``ContinuousBatchingBackend`` (the same object the HTTP server drives), per policy:

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
output tokens submitted at once) under each policy and engine setting listed.
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

from puzzles.llm.scheduler import jain_index
from puzzles.worker.backend import Finished, SamplingParams
from puzzles.worker.engine import ContinuousBatchingBackend, EngineOptions
from puzzles.worker.model import LoadedModel, random_model

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
    backend: ContinuousBatchingBackend,
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


def _steps(backend: ContinuousBatchingBackend) -> int:
    return int(getattr(backend._manager, "current_batch", 0))


async def _flood(
    backend: ContinuousBatchingBackend,
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


async def _light(
    backend: ContinuousBatchingBackend, load: Load, rate: float, run: Run, stop: asyncio.Event
) -> None:
    rng = random.Random(load.name)
    tasks: list[asyncio.Task[None]] = []
    while not stop.is_set():
        tasks.append(asyncio.create_task(_one(backend, rng, load, run, stream=True)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0 / rate)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _sample(backend: ContinuousBatchingBackend, run: Run, stop: asyncio.Event) -> None:
    while not stop.is_set():
        view = backend.queue()
        stamp = time.perf_counter() - run.started
        run.samples.append((stamp, {t: (v.service, v.waiting) for t, v in view.tenants.items()}))
        run.steps.append((stamp, _steps(backend)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_S)


async def _scenario(
    backend: ContinuousBatchingBackend,
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


def _backend(loaded: LoadedModel, options: EngineOptions) -> ContinuousBatchingBackend:
    import torch

    # The previous engine's cache and graph pools must be gone before this one sizes its cache.
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return ContinuousBatchingBackend(loaded, options)


async def _warm(backend: ContinuousBatchingBackend, loads: list[Load]) -> None:
    rng = random.Random(0)
    await asyncio.gather(*[_one(backend, rng, load, None, stream=True) for load in loads * 2])
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

    solo_backend = _backend(loaded, replace(base, scheduler="fifo"))
    try:
        await _warm(solo_backend, [*floods, light])
        solo = await _scenario(solo_backend, "solo", [], light, args, args.solo_duration)
    finally:
        solo_backend.close()
        del solo_backend
    results: dict[str, tuple[Run, dict[str, Any]]] = {}
    for policy in args.policies:
        backend = _backend(loaded, replace(base, scheduler=policy))
        try:
            await _warm(backend, [*floods, light])
            run = await _scenario(backend, policy, floods, light, args, args.duration)
        finally:
            backend.close()
            del backend
        results[policy] = (run, fairness(run, tenants))

    solo_p50, solo_p99 = _pct(solo.ttft, 0.5), _pct(solo.ttft, 0.99)
    fifo_rate = results["fifo"][1]["service_per_s"] if "fifo" in results else None
    fifo_out = (
        results["fifo"][0].output_tokens / (results["fifo"][0].ended - results["fifo"][0].started)
        if "fifo" in results
        else None
    )
    print(
        f"\nlight solo TTFT p50 {solo_p50 * 1000:.0f} ms, p99 {solo_p99 * 1000:.0f} ms "
        f"({len(solo.ttft)} requests)"
    )
    header = (
        "| policy | Jain min / mean (windows >=2 backlogged) | max service gap per third |"
        " light TTFT p50 / p99 (x solo p99) | weighted tok/s (x FIFO) | output tok/s (x FIFO) |"
    )
    print(header)
    print("|" + "---|" * 6)
    summary: dict[str, Any] = {"solo_ttft_ms": [solo_p50 * 1000, solo_p99 * 1000]}
    for policy, (run, fair) in results.items():
        elapsed = run.ended - run.started
        out_rate = run.output_tokens / elapsed
        p50, p99 = _pct(run.ttft, 0.5), _pct(run.ttft, 0.99)
        jain = (
            f"{fair['jain_min']:.3f} / {fair['jain_mean']:.3f} ({fair['windows_2plus']}/{fair['windows']})"
            if fair["jain_min"] is not None
            else f"n/a (0/{fair['windows']})"
        )
        gaps = ", ".join(f"{g:,.0f}" for g in fair["gap_thirds"])
        ratio = f" ({fair['service_per_s'] / fifo_rate:.2f}x)" if fifo_rate else ""
        out_ratio = f" ({out_rate / fifo_out:.2f}x)" if fifo_out else ""
        print(
            f"| {policy} | {jain} | {gaps} | {p50 * 1000:.0f} / {p99 * 1000:.0f} ms"
            f" ({p99 / solo_p99:.1f}x) | {fair['service_per_s']:,.0f}{ratio} |"
            f" {out_rate:,.0f}{out_ratio} |"
        )
        summary[policy] = fair | {"ttft_ms": [p50 * 1000, p99 * 1000], "output_per_s": out_rate}
    print(
        "\nlight requests inside the engine, p50 / p99 (ms): admission wait; first token delivered"
    )
    for policy, (run, _) in [("solo", (solo, None)), *results.items()]:
        print(
            f"  {policy}: {_pct(run.admit_wait, 0.5) * 1000:.0f} / {_pct(run.admit_wait, 0.99) * 1000:.0f};"
            f" {_pct(run.engine_ttft, 0.5) * 1000:.0f} / {_pct(run.engine_ttft, 0.99) * 1000:.0f}"
        )
    print("\nlight TTFT after the first window (the flood has filled the batch), p50 / p99 / max:")
    for policy, (run, _) in [("solo", (solo, None)), *results.items()]:
        steady = [t for at, t in run.ttft_at if at >= WINDOW_S]
        worst = max(run.ttft_at, key=lambda item: item[1], default=(0.0, 0.0))
        print(
            f"  {policy}: {_pct(steady, 0.5) * 1000:.0f} / {_pct(steady, 0.99) * 1000:.0f} /"
            f" {max(steady, default=0.0) * 1000:.0f} ms; worst overall {worst[1] * 1000:.0f} ms"
            f" sent at {worst[0]:.1f} s"
        )
    print("\nengine steps: per second overall; longest sample interval without a step;")
    print("light: engine steps from send to first token, p50 / p99 / max")
    for policy, (run, _) in [("solo", (solo, None)), *results.items()]:
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
    print("| setting | policy | output tok/s | wall s |")
    print("|---|---|---|---|")
    for setting in args.settings:
        options = replace(base, **_SETTINGS[setting])
        for policy in args.policies:
            backend = _backend(loaded, replace(options, scheduler=policy))
            try:
                await _warm(backend, [load])
                run = Run(policy)
                rng = random.Random(1)
                started = time.perf_counter()
                await asyncio.gather(
                    *[_one(backend, rng, load, run, stream=False) for _ in range(args.tp_requests)]
                )
                wall = time.perf_counter() - started
            finally:
                backend.close()
                del backend
            print(f"| {setting} | {policy} | {run.output_tokens / wall:,.0f} | {wall:.1f} |")


_SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "graphs": {"cuda_graphs": True},
    "graphs-async": {"cuda_graphs": True, "async_batching": True},
    "sampling": {"sampling": True},
    "compile": {"compile_level": 1},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU, short run")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", default="1b")
    parser.add_argument("--policies", default="vtc,fifo", type=lambda s: s.split(","))
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
    parser.add_argument("--settings", default="default,graphs", type=lambda s: s.split(","))
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
