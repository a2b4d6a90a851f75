"""The fast engine's step planner (``puzzles.worker.batcher``) under the fairness bench's load, in
virtual time: no model, no GPU, deterministic.

``bench/worker_fairness.py`` measures the real engine on a GPU; this replays its load against the
planner alone, with each step's duration taken from a model fitted to that bench's H200 figures
(docs/benchmarks.md, issue 20): a decode-only step replays a CUDA graph (``--decode-ms``), a step
with prefill runs eagerly (``--mixed-ms`` plus ``--token-us`` per prefill token).  What it can
show is the planner's part of the light tenant's time to first token: how many steps it waits and
whether it gets a slot, under each policy, and the counters' fairness between the floods.  What
it cannot show is the device's own step times, which it assumes.

Load (the fairness bench's defaults): two floods keep ``--outstanding`` requests each in flight,
closed loop (``flood-big`` 512 in / 256 out, ``flood-small`` 128 / 64); ``light`` sends 128 / 64
every ``1 / --light-rate`` seconds; ``--slots`` slots, ``--budget`` tokens a step; admission
coalescing as the fast engine does it with CUDA graphs (``--admit-batch 1`` turns it off).

    python3 bench/worker_planner.py              # vtc, vtc without preemption, fifo; ~1 min CPU
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import statistics
from dataclasses import dataclass, field

from puzzles.worker.batcher import Batcher, Sequence
from puzzles.worker.tenants import TenantLedger

WINDOW_S = 10.0


@dataclass(frozen=True)
class Load:
    name: str
    prompt: int
    output: int


@dataclass
class Result:
    name: str
    ttft: list[float] = field(default_factory=list)
    steps_to_first: list[int] = field(default_factory=list)
    output_tokens: int = 0
    preempted: int = 0
    elapsed: float = 0.0
    gap: float = 0.0  # max |service(big) - service(small)|, weighted tokens
    jain: list[float] = field(default_factory=list)


def _jain(values: list[float]) -> float:
    squares = sum(v * v for v in values)
    return 1.0 if squares == 0 else sum(values) ** 2 / (len(values) * squares)


def simulate(
    args: argparse.Namespace, policy: str, preemption: bool, *, floods: bool, duration: float
) -> Result:
    ledger = TenantLedger()
    batcher = Batcher(
        ledger,
        slots=args.slots,
        token_budget=args.budget,
        policy=policy,
        preemption=preemption,
        admit_batch=args.admit_batch or max(1, args.slots // 8),  # the fast engine's on a GPU
        max_defer=args.max_defer,
    )
    big, small = Load("flood-big", *args.big), Load("flood-small", *args.small)
    light = Load("light", *args.light)
    ids = itertools.count()
    arrivals: list[tuple[float, int, Load]] = []  # (time, tie-break, load)
    sent: dict[str, tuple[float, int]] = {}  # light request -> (arrival, step at arrival)
    result = Result(policy if preemption or policy == "fifo" else f"{policy}-nopreempt")
    now, steps = 0.0, 0
    if floods:
        for load in (big, small):
            for _ in range(args.outstanding):
                heapq.heappush(arrivals, (0.0, next(ids), load))
    for k in range(int(duration * args.light_rate)):
        heapq.heappush(arrivals, (k / args.light_rate, next(ids), light))
    window_start, window_service = 0.0, {big.name: 0.0, small.name: 0.0}
    while now < duration:
        while arrivals and arrivals[0][0] <= now:
            at, number, load = heapq.heappop(arrivals)
            request_id = f"{load.name}-{number}"
            ledger.open(request_id, load.name)
            prompt = [3 + (number + i) % 240 for i in range(load.prompt)]
            batcher.add(Sequence(request_id, load.name, prompt, load.output, at))
            if load is light:
                sent[request_id] = (at, steps)
        work = batcher.plan(now)
        if not work:
            if not arrivals:
                break
            now = arrivals[0][0]
            continue
        # A decode is the one token after everything cached; anything else is prefill.
        prefill = sum(w.count for w in work if w.start + w.count < w.seq.length or w.count > 1)
        now += (
            args.mixed_ms / 1e3 + args.token_us * prefill / 1e6 if prefill else args.decode_ms / 1e3
        )
        steps += 1
        for item in work:
            batcher.advance(item)
            if not item.logits:
                continue
            seq = item.seq
            seq.generated.append(1)
            ledger.charge(seq.tenant, 0, 1)
            result.output_tokens += 1
            if seq.tenant == light.name and len(seq.generated) == 1:
                at, step = sent[seq.request_id]
                result.ttft.append(now - at)
                result.steps_to_first.append(steps - step)
            if len(seq.generated) >= seq.max_new:
                batcher.finish(seq)
                ledger.close(seq.request_id)
                if seq.tenant != light.name:  # closed loop: the flood sends its next at once
                    load = big if seq.tenant == big.name else small
                    heapq.heappush(arrivals, (now, next(ids), load))
        if floods:
            view = ledger.snapshot([])
            service = {n: view[n].service if n in view else 0.0 for n in window_service}
            result.gap = max(result.gap, abs(service[big.name] - service[small.name]))
            if now - window_start >= WINDOW_S:
                delta = [service[n] - window_service[n] for n in window_service]
                result.jain.append(_jain(delta))
                window_start, window_service = now, service
    result.preempted = batcher.preempted
    result.elapsed = now
    return result


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--solo-duration", type=float, default=10.0)
    parser.add_argument("--outstanding", type=int, default=192)
    parser.add_argument("--light-rate", type=float, default=2.0)
    parser.add_argument("--big", type=int, nargs=2, default=(512, 256))
    parser.add_argument("--small", type=int, nargs=2, default=(128, 64))
    parser.add_argument("--light", type=int, nargs=2, default=(128, 64))
    parser.add_argument("--slots", type=int, default=128)
    parser.add_argument("--budget", type=int, default=2048)
    parser.add_argument("--admit-batch", type=int, default=None, help="default slots / 8")
    parser.add_argument("--max-defer", type=int, default=16)
    parser.add_argument("--decode-ms", type=float, default=5.2)
    parser.add_argument("--mixed-ms", type=float, default=24.0)
    parser.add_argument("--token-us", type=float, default=9.0)
    args = parser.parse_args()
    print(
        f"step model: decode-only {args.decode_ms} ms, mixed {args.mixed_ms} ms +"
        f" {args.token_us} us/prefill token; {args.slots} slots, {args.budget} tokens a step,"
        f" admission batch {args.admit_batch or max(1, args.slots // 8)} / {args.max_defer} plans"
    )
    header = (
        "| policy | light TTFT p50 / p99 ms (x solo p99) | steps to 1st token p50 / max |"
        " preemptions | Jain min | max gap | output tok/s |"
    )
    print(header)
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for policy, preemption in (("vtc", True), ("vtc", False), ("fifo", False)):
        solo = simulate(args, policy, preemption, floods=False, duration=args.solo_duration)
        run = simulate(args, policy, preemption, floods=True, duration=args.duration)
        if not run.ttft:
            print(f"| {run.name} | no light first token within the run | | {run.preempted} |")
            continue
        solo_p99 = _pct(solo.ttft, 0.99)
        p50, p99 = statistics.median(run.ttft) * 1e3, _pct(run.ttft, 0.99) * 1e3
        print(
            f"| {run.name} | {p50:.0f} / {p99:.0f} ({p99 / 1e3 / solo_p99:.1f}x;"
            f" solo {statistics.median(solo.ttft) * 1e3:.0f} / {solo_p99 * 1e3:.0f}) |"
            f" {statistics.median(run.steps_to_first):.0f} / {max(run.steps_to_first)} |"
            f" {run.preempted} | {min(run.jain, default=float('nan')):.3f} | {run.gap:,.0f} |"
            f" {run.output_tokens / run.elapsed:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
