"""``Backend`` on the project's own engine: packed steps, slot KV cache, fast attention, CUDA graphs.

One background thread owns the model: each step it plans work with ``puzzles.worker.batcher``, runs
one forward (``puzzles.worker.runner``), samples every wanted next token in one batched call and one
host sync, and hands the new tokens to the event loop in one ``call_soon_threadsafe`` per loop and
step (not one per request: a wake-up of the loop costs a system call).  The HTTP side talks to it
only through a locked inbox, so nothing here blocks the loop.  Tokenizing, validation and the
stream of text deltas are ``puzzles.worker.frontend``'s, shared with the transformers engine.

Compared with ``puzzles.worker.engine`` (transformers' continuous batching), this runs only
Llama-style decoders (``runner.supported``), greedy or temperature/top-p sampling per request,
and never pages: each running request holds a slot of the model's full context.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from puzzles.worker.backend import GenerationEvent, PromptError, QueueView, SamplingParams
from puzzles.worker.batcher import Batcher, Work
from puzzles.worker.batcher import Sequence as Seq
from puzzles.worker.frontend import ModelFrontend
from puzzles.worker.model import LoadedModel
from puzzles.worker.options import EngineOptions
from puzzles.worker.tenants import DEFAULT_TENANT, TenantLedger

log = logging.getLogger("puzzles.worker")

CPU_DEFAULTS = {"slots": 16, "token_budget": 256}
# 1,024 tokens a step: on an H200 (1.1B Llama) 24k output tok/s against 25.5k at 2,048, and a
# light tenant's p99 first token under a flood 19 ms against 25 (docs/benchmarks.md, issue 20).
GPU_DEFAULTS = {"slots": 256, "token_budget": 1024}


@dataclass(frozen=True, slots=True)
class Trace:
    """What a request's first output says about its queueing (engine clock, seconds)."""

    created_time: float
    lifespan: tuple[float, float]  # (admitted, -1), the shape transformers' outputs have


@dataclass(slots=True)
class _Client:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Any]
    streaming: bool
    temperature: float
    top_p: float


class FastBackend(ModelFrontend):
    """``Backend`` over the fast engine; ``close()`` stops its thread."""

    def __init__(self, loaded: LoadedModel, options: EngineOptions | None = None) -> None:
        from puzzles.worker.runner import Runner

        super().__init__(loaded, options)
        options = self.options
        on_gpu = loaded.device.startswith("cuda")
        defaults = GPU_DEFAULTS if on_gpu else CPU_DEFAULTS
        self.slots = options.max_requests_per_batch or _fit_slots(
            loaded, defaults["slots"], options
        )
        budget = options.max_batch_tokens or max(defaults["token_budget"], self.slots)
        policy = "fifo" if options.scheduler == "prefill_first" else options.scheduler
        self.ledger = TenantLedger(w_in=options.w_in, w_out=options.w_out)
        self.runner = Runner(
            loaded.model,
            slots=self.slots,
            context=loaded.context_length,
            attention=options.attention,
            cuda_graphs=options.cuda_graphs,
        )
        self.batcher = Batcher(
            self.ledger,
            slots=self.slots,
            token_budget=budget,
            policy=policy,
            preemption=options.preemption,
            # Gather freed slots (an eighth of them) before refilling them in a step of their
            # own: measured when steps with prefill ran eagerly (~25 ms against 5 for a replayed
            # decode step); they now replay graphs too, and it was not re-measured since.
            admit_batch=max(1, self.slots // 8) if self.runner.graphs_enabled else 1,
        )
        self._ids = itertools.count()
        self._clients: dict[str, _Client] = {}
        self._inbox: list[tuple[str, Any]] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._running_ids: frozenset[str] = frozenset()
        self.steps = 0
        # Where the engine thread's time goes (seconds), for the benchmark's profile: planning,
        # decode-only and mixed steps (forward + sampling + the one host sync), hand-over.
        self.timings: dict[str, float] = dict.fromkeys(
            ("plan", "decode", "mixed", "deliver", "decode_steps", "mixed_steps"), 0.0
        )
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gate-fast-engine", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"the fast engine did not start: {self._error}") from self._error

    def close(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=30)

    # -- the HTTP side --------------------------------------------------------------------------

    async def stream_tokens(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        *,
        tenant: str | None = None,
        text: bool = True,
        streaming: bool = True,
        trace: Callable[[Any], None] | None = None,
        sink: list[int] | None = None,
    ) -> AsyncIterator[GenerationEvent]:
        """As ``ModelFrontend.stream_tokens`` (the benchmark drives both engines alike);
        ``sink`` receives the generated token ids (the device check compares them)."""
        self.validate(params)
        if self._stopping or not self._thread.is_alive():
            raise RuntimeError("the engine is not accepting requests (stopping)")
        if not prompt_ids or len(prompt_ids) >= self.context_length:
            raise PromptError(f"the prompt must have 1 to {self.context_length - 1} tokens")
        limit = min(params.max_new_tokens, self.context_length - len(prompt_ids))
        request_id = f"fast-{next(self._ids)}"
        name = self.ledger.open(request_id, tenant or DEFAULT_TENANT)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        greedy = params.temperature <= 0
        self._clients[request_id] = _Client(
            asyncio.get_running_loop(),
            queue,
            streaming,
            0.0 if greedy else params.temperature,
            1.0 if greedy else params.top_p,
        )
        seq = Seq(request_id, name, list(prompt_ids), max(1, limit), time.monotonic())
        self._post("add", seq)
        stream = self.stream(prompt_ids, params, limit, text=text, token_ids=sink)
        done = False
        try:
            while True:
                kind, payload = await queue.get()
                if kind == "trace":
                    if trace is not None:
                        trace(payload)
                    continue
                if kind == "error":
                    done = True
                    raise RuntimeError(payload)
                tokens, finished = payload
                for delta in stream.add(tokens):
                    yield delta
                if stream.stopped or finished:
                    done = finished
                    for event in stream.finish():
                        yield event
                    return
        finally:
            if not done:
                self._post("cancel", request_id)
            self._clients.pop(request_id, None)
            self.ledger.close(request_id)

    def _post(self, kind: str, payload: Any) -> None:
        with self._wake:
            self._inbox.append((kind, payload))
            self._wake.notify()

    def queue(self) -> QueueView:
        tenants = self.ledger.snapshot(self._running_ids)
        return QueueView(
            model=self.model_id,
            running=sum(v.running for v in tenants.values()),
            waiting=sum(v.waiting for v in tenants.values()),
            max_batch=self.slots,
            # One slot holds one request's whole context: slots are this engine's cache blocks.
            kv_blocks_free=self.slots - len(self._running_ids),
            kv_blocks_total=self.slots,
            tenants=tenants,
        )

    # -- the engine thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.runner.capture_all(self.batcher.token_budget)
        except BaseException as exc:  # surfaces in __init__
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop()
        except BaseException as exc:
            log.exception("the fast engine stopped")
            self._fail_all(f"the engine stopped: {exc}")

    def _loop(self) -> None:
        while True:
            with self._wake:
                if not self._inbox and not self.batcher.running and not self.batcher.waiting:
                    self._wake.wait(timeout=1.0)
                if self._stopping:
                    break
                inbox, self._inbox = self._inbox, []
            for kind, payload in inbox:
                self._receive(kind, payload)
            started = time.perf_counter()
            work = self.batcher.plan(time.monotonic())
            self._running_ids = frozenset(self.batcher.running)
            self.timings["plan"] += time.perf_counter() - started
            if work:
                self._step(work)
                self._running_ids = frozenset(self.batcher.running)  # some finished
            elif self.batcher.waiting:
                with self._wake:  # nothing fits now (cannot happen with free slots): don't spin
                    self._wake.wait(timeout=0.01)
        self._fail_all("the engine is stopping")

    def _receive(self, kind: str, payload: Any) -> None:
        if kind == "add":
            if payload.request_id in self._clients:
                self.batcher.add(payload)
            return
        seq = self.batcher.find(payload)
        if seq is not None:
            self.batcher.finish(seq)

    def _step(self, work: list[Work]) -> None:
        from puzzles.worker.runner import StepInput

        step = StepInput()
        for item in work:
            assert item.seq.slot is not None
            step.add(
                item.seq.slot, item.start, item.seq.tokens(item.start, item.count), item.logits
            )
        wanted = [item.seq for item in work if item.logits]
        started = time.perf_counter()
        try:
            logits = self.runner.step(step)
            tokens = self._sample(logits, wanted)
        except Exception as exc:
            log.exception("a step failed")
            for item in work:
                self._end(item.seq, ("error", f"generation failed: {exc}"))
            return
        ran = time.perf_counter()
        kind = "decode" if len(step.tokens) == len(work) else "mixed"
        self.timings[kind] += ran - started
        self.timings[f"{kind}_steps"] += 1
        self.steps += 1
        for item in work:
            self.batcher.advance(item)
        now = time.monotonic()
        out: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Queue[Any], Any]]] = {}
        for seq, token in zip(wanted, tokens, strict=True):
            client = self._clients.get(seq.request_id)
            seq.generated.append(token)
            self.ledger.charge(seq.tenant, 0, 1)
            first = seq.first_token_at is None
            if first:
                seq.first_token_at = now
            finished = len(seq.generated) >= seq.max_new or (
                not self.options.ignore_eos and token in self._eos
            )
            if finished:
                self.batcher.finish(seq)
            if client is None:
                if not finished:
                    self.batcher.finish(seq)  # its client left between steps
                continue
            batch = out.setdefault(client.loop, [])
            if first and client.streaming:
                admitted = seq.admitted_at if seq.admitted_at is not None else now
                batch.append((client.queue, ("trace", Trace(seq.arrival, (admitted, -1.0)))))
            if client.streaming:
                batch.append((client.queue, ("tokens", ([token], finished))))
            elif finished:
                batch.append((client.queue, ("tokens", (list(seq.generated), True))))
        for loop, items in out.items():
            _deliver_soon(loop, items)
        self.timings["deliver"] += time.perf_counter() - ran

    def _sample(self, logits: Any, wanted: list[Seq]) -> list[int]:
        import torch

        clients = [self._clients.get(s.request_id) for s in wanted]
        temperatures = [c.temperature if c is not None else 0.0 for c in clients]
        if not any(temperatures):
            return [int(t) for t in logits.argmax(dim=-1).tolist()]
        temps = torch.tensor(temperatures, device=logits.device)
        top_p = torch.tensor([c.top_p if c else 1.0 for c in clients], device=logits.device)
        probs = torch.softmax(logits / temps.clamp_min(1e-5)[:, None], dim=-1)
        ordered, index = probs.sort(dim=-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        ordered = ordered.masked_fill(ordered.cumsum(-1) - ordered > top_p[:, None], 0.0)
        choice = index.gather(-1, torch.multinomial(ordered, 1)).squeeze(-1)
        chosen = torch.where(temps > 0, choice, logits.argmax(dim=-1))
        return [int(t) for t in chosen.tolist()]

    def _end(self, seq: Seq, message: tuple[str, Any]) -> None:
        self.batcher.finish(seq)
        client = self._clients.get(seq.request_id)
        if client is not None:
            _deliver_soon(client.loop, [(client.queue, message)])

    def _fail_all(self, reason: str) -> None:
        for seq in list(self.batcher.running.values()):
            self._end(seq, ("error", reason))
        for queue in list(self.batcher.waiting.values()):
            for seq in list(queue):
                self._end(seq, ("error", reason))


def _fit_slots(loaded: LoadedModel, wanted: int, options: EngineOptions) -> int:
    """On a GPU, as many slots (up to ``wanted``) as fit in ``max_memory_percent`` (default half)
    of the free memory: a slot holds a whole context of keys and values."""
    if not loaded.device.startswith("cuda"):
        return wanted
    import torch

    from puzzles.worker.runner import Runner

    free, _ = torch.cuda.mem_get_info(torch.device(loaded.device))
    share = options.max_memory_percent if options.max_memory_percent is not None else 0.5
    per_slot = Runner.bytes_per_slot(loaded.model, loaded.context_length)
    fitted = max(1, min(wanted, int(free * share) // per_slot - 1))
    if fitted < wanted:
        log.info("KV cache: %d slots fit in %.0f%% of free GPU memory", fitted, 100 * share)
    return fitted


def _deliver(items: list[tuple[asyncio.Queue[Any], Any]]) -> None:
    for queue, item in items:
        queue.put_nowait(item)


def _deliver_soon(
    loop: asyncio.AbstractEventLoop, items: list[tuple[asyncio.Queue[Any], Any]]
) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening any more
        loop.call_soon_threadsafe(_deliver, items)
