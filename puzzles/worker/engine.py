"""``Backend`` on transformers' continuous batching engine (paged attention, one background thread).

Requests go to the engine's manager with our own request ids; each registers a result handler that
the engine calls on the event loop (``call_soon_threadsafe``) with the tokens so far, so nothing
here blocks the loop.  Tenants reach the scheduler through a ``TenantLedger`` keyed by request id.

Sampling: the engine samples for a whole batch at once, so it runs in sampling mode with the
per-request temperature and top-p processors, and a greedy request gets a temperature so low
(``GREEDY_TEMPERATURE``) that the softmax puts all mass on the arg-max: the same tokens as greedy
decoding.  ``sampling=False`` runs the engine greedily (no logits processors, the fastest path) and
refuses requests with a temperature above 0.  Per-request seeds cannot be honoured in a shared batch.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from puzzles.worker.backend import GenerationEvent, QueueView, SamplingParams
from puzzles.worker.frontend import ModelFrontend
from puzzles.worker.model import LoadedModel
from puzzles.worker.options import EngineOptions
from puzzles.worker.tenants import DEFAULT_TENANT, TenantLedger

log = logging.getLogger("puzzles.worker")

GREEDY_TEMPERATURE = 1e-6
_FINISHED, _FAILED = "FINISHED", "FAILED"


def _engine_config(options: EngineOptions, scheduler_type: str) -> Any:
    from transformers import ContinuousBatchingConfig

    fields = set(inspect.signature(ContinuousBatchingConfig).parameters)
    # transformers 5.17 named the page size ``block_size``; later versions ``page_size``.
    page = "page_size" if "page_size" in fields else "block_size"
    values: dict[str, Any] = {
        "scheduler_type": scheduler_type,
        "per_request_processors": options.sampling,
        "num_blocks": options.num_blocks,
        "max_batch_tokens": options.max_batch_tokens,
        "max_requests_per_batch": options.max_requests_per_batch,
        "use_cuda_graph": options.cuda_graphs,
        "use_async_batching": options.async_batching,
        "default_compile_level": options.compile_level,
        "max_memory_percent": options.max_memory_percent,
    }
    if options.block_size is not None:
        values[page] = options.block_size
    return ContinuousBatchingConfig(**{k: v for k, v in values.items() if k in fields})


def _generation_config(loaded: LoadedModel, sampling: bool, eos: list[int]) -> Any:
    from transformers import GenerationConfig

    if sampling:
        # A temperature other than 1 and a top-p under 1 make the engine build the two processors;
        # every request then brings its own values.
        return GenerationConfig(
            do_sample=True, temperature=0.7, top_p=0.99, top_k=None, eos_token_id=eos
        )
    return GenerationConfig(do_sample=False, eos_token_id=eos)


class ContinuousBatchingBackend(ModelFrontend):
    """``Backend`` over one continuous batching manager; ``close()`` stops its thread."""

    def __init__(self, loaded: LoadedModel, options: EngineOptions | None = None) -> None:
        from puzzles.worker import fair

        super().__init__(loaded, options)
        self.ledger = TenantLedger(w_in=self.options.w_in, w_out=self.options.w_out)
        self._scheduler_name = fair.register(self.options.scheduler, self.ledger)
        self._ids = itertools.count()
        self._manager = loaded.model.init_continuous_batching(
            generation_config=_generation_config(loaded, self.options.sampling, sorted(self._eos)),
            continuous_batching_config=_engine_config(self.options, self._scheduler_name),
        )
        self._manager.start()
        self._wait_ready()

    def _wait_ready(self, timeout: float = 300.0) -> None:
        """Block until the engine thread has built its cache, so ``/queue`` is complete from the
        first request on and a start-up failure surfaces here, not in the first request."""
        deadline = time.monotonic() + timeout
        while getattr(self._manager, "batch_processor", None) is None:
            if not self._manager.is_running() or time.monotonic() > deadline:
                raise RuntimeError("the continuous batching engine did not start")
            time.sleep(0.01)

    @property
    def steps(self) -> int:
        """Engine steps run so far (the benchmark's clock)."""
        return int(getattr(self._manager, "current_batch", 0))

    def close(self) -> None:
        from puzzles.worker import fair

        if self._manager.is_running():
            self._manager.stop(block=True, timeout=30)
        fair.unregister(self._scheduler_name)

    async def stream_tokens(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        *,
        tenant: str | None = None,
        text: bool = True,
        streaming: bool = True,
        trace: Callable[[Any], None] | None = None,
    ) -> AsyncIterator[GenerationEvent]:
        self.validate(params)
        limit = min(params.max_new_tokens, self.context_length - len(prompt_ids))
        request_id = f"gate-{next(self._ids)}"
        updates: asyncio.Queue[Any] = asyncio.Queue()
        self.ledger.open(request_id, tenant or DEFAULT_TENANT)
        self._manager.register_result_handler(request_id, updates.put_nowait)
        sampling: dict[str, float] = {}
        if self.options.sampling:
            greedy = params.temperature <= 0
            sampling = {
                "temperature": GREEDY_TEMPERATURE if greedy else params.temperature,
                "top_p": 1.0 if greedy else params.top_p,
            }
        try:
            added = self._manager.add_request(
                prompt_ids,
                request_id=request_id,
                max_new_tokens=limit,
                streaming=streaming,
                eos_token_id=-1 if self.options.ignore_eos else sorted(self._eos),
                **sampling,
            )
            if added is None:
                raise RuntimeError("the engine is not accepting requests (stopping)")
        except BaseException:
            self._forget(request_id)  # refused or failed: nothing will ever answer it
            raise
        stream = self.stream(prompt_ids, params, limit, text=text)
        done = False
        seen = 0
        try:
            while True:
                output = await updates.get()
                if trace is not None and not seen:
                    trace(output)
                if output.error is not None or output.status.name == _FAILED:
                    done = True
                    raise RuntimeError(output.error or "generation failed")
                tokens = output.generated_tokens
                for delta in stream.add(int(token) for token in tokens[seen:]):
                    yield delta
                seen = len(tokens)
                finished = output.status.name == _FINISHED
                if stream.stopped or finished:
                    done = finished
                    for event in stream.finish():
                        yield event
                    return
        finally:
            if not done:
                # The client left or a stop sequence ended it early: give the cache back now.
                self._manager.cancel_request(request_id)
            self._forget(request_id)

    def _forget(self, request_id: str) -> None:
        # The engine drops a result handler only after a final output, which a cancelled or
        # refused request never gets.
        router = self._manager.output_router
        with router._lock:
            router.result_handlers.pop(request_id, None)
        self.ledger.close(request_id)

    def queue(self) -> QueueView:
        processor = getattr(self._manager, "batch_processor", None)
        scheduler = getattr(processor, "scheduler", None)
        cache = getattr(processor, "cache", None)
        running_ids = list(scheduler.active_requests) if scheduler is not None else []
        tenants = self.ledger.snapshot(running_ids)
        total = getattr(cache, "num_blocks", None)
        free = _free_blocks(cache, total)
        config = self._manager.continuous_batching_config
        return QueueView(
            model=self.model_id,
            running=sum(v.running for v in tenants.values()),
            waiting=sum(v.waiting for v in tenants.values()),
            max_batch=getattr(config, "max_requests_per_batch", None),
            kv_blocks_free=free,
            kv_blocks_total=int(total) if total is not None else None,
            tenants=tenants,
        )


def _free_blocks(cache: Any, total: int | None) -> int | None:
    if cache is None:
        return None
    if hasattr(cache, "get_num_free_blocks"):  # transformers <= 5.17
        return int(cache.get_num_free_blocks())
    if hasattr(cache, "compute_free_capacity") and total is not None:
        return round(cache.compute_free_capacity() * total)
    return None
