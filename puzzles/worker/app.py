"""The HTTP layer: an OpenAI-compatible Starlette app over any ``Backend``, and ``serve()``.

Endpoints: ``GET /health``, ``GET /v1/models``, ``POST /v1/chat/completions`` and
``POST /v1/completions``, each completion streaming (server-sent events in OpenAI's chunk format,
ending with ``data: [DONE]``) or not; ``GET /queue`` (JSON) and ``GET /metrics`` (Prometheus text)
report the engine's load per tenant.  Errors use OpenAI's ``{"error": {...}}`` shape.

The tenant of a request is the ``X-Gate-Tenant`` header when present, else the body's ``user``
field: the header is what the gateway's LLM pool sets for the flow it charges, so it wins over
whatever a client wrote into the body.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from puzzles.worker.backend import Backend, Finished, PromptError, QueueView, TextDelta
from puzzles.worker.options import EngineOptions
from puzzles.worker.protocol import (
    Endpoint,
    ParsedRequest,
    RequestError,
    ResponseShaper,
    error_body,
    parse_request,
)

log = logging.getLogger("puzzles.worker")

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: far more than any prompt a small-context model can take
DEFAULT_MAX_NEW_TOKENS_CAP = 512
TENANT_HEADER = "x-gate-tenant"
MAX_TENANT_LENGTH = 128


class BodyTooLarge(Exception):
    pass


def _error(
    status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None
) -> JSONResponse:
    return JSONResponse(error_body(message, kind=kind, param=param), status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():  # chunked bodies have no content-length to trust
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def _sse(data: dict[str, Any] | str) -> bytes:
    payload = (
        data
        if isinstance(data, str)
        else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    )
    return f"data: {payload}\n\n".encode()


def create_app(
    backend: Backend,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    max_new_tokens_cap: int = DEFAULT_MAX_NEW_TOKENS_CAP,
) -> Starlette:
    async def health(request: Request) -> Response:
        # The model is loaded before the socket is bound, so answering at all means ready.
        return JSONResponse({"status": "ok", "model": backend.model_id})

    async def models(request: Request) -> Response:
        card = {
            "id": backend.model_id,
            "object": "model",
            "created": 0,
            "owned_by": "reasoning-gate",
        }
        return JSONResponse({"object": "list", "data": [card]})

    async def completions(request: Request, endpoint: Endpoint) -> Response:
        try:
            raw = await _read_body(request, max_body)
        except BodyTooLarge:
            return _error(413, f"the request body is larger than {max_body} bytes")
        except ClientDisconnect:
            return Response(status_code=499)
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(400, f"the request body is not valid JSON: {exc}")
        try:
            parsed = parse_request(body, endpoint, max_new_tokens_cap=max_new_tokens_cap)
            tenant = request.headers.get(TENANT_HEADER) or parsed.tenant
            if tenant is not None and len(tenant) > MAX_TENANT_LENGTH:
                raise RequestError(
                    f"the tenant is longer than {MAX_TENANT_LENGTH} characters", "user"
                )
            backend.validate(parsed.params)
        except RequestError as exc:
            return _error(400, str(exc), param=exc.param)
        except PromptError as exc:
            return _error(400, str(exc), param="temperature")
        try:
            prompt_ids = await backend.prepare(parsed.prompt)
        except PromptError as exc:
            return _error(400, str(exc), param="messages" if endpoint == "chat" else "prompt")
        shaper = ResponseShaper(endpoint, backend.model_id)
        events = backend.generate(prompt_ids, parsed.params, tenant=tenant)
        if parsed.stream:
            return StreamingResponse(
                _stream(events, shaper, parsed),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        parts: list[str] = []
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                else:
                    return JSONResponse(shaper.complete("".join(parts), event))
        except Exception as exc:
            log.exception("generation failed")
            return _error(500, f"generation failed: {exc}", kind="server_error")
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        return _error(500, "generation ended without a result", kind="server_error")

    async def queue(request: Request) -> Response:
        return JSONResponse(queue_body(backend.queue()))

    registry = _metrics_registry(backend)

    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def chat(request: Request) -> Response:
        return await completions(request, "chat")

    async def text(request: Request) -> Response:
        return await completions(request, "completion")

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/queue", queue, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", text, methods=["POST"]),
        ]
    )


def queue_body(view: QueueView) -> dict[str, Any]:
    return {
        "model": view.model,
        "running": view.running,
        "waiting": view.waiting,
        "max_batch": view.max_batch,
        "kv_blocks_free": view.kv_blocks_free,
        "kv_blocks_total": view.kv_blocks_total,
        "tenants": {
            name: {
                "running": t.running,
                "waiting": t.waiting,
                "service": t.service,
                "prompt_tokens": t.prompt_tokens,
                "output_tokens": t.output_tokens,
            }
            for name, t in view.tenants.items()
        },
    }


def _metrics_registry(backend: Backend) -> Any:
    """A private registry whose collector reads ``backend.queue()`` at every scrape."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector

    class QueueCollector(Collector):
        def collect(self) -> Any:
            view = backend.queue()
            for name, value, doc in (
                ("gate_worker_running", view.running, "Requests in the engine's batch."),
                ("gate_worker_waiting", view.waiting, "Requests waiting for admission."),
                ("gate_worker_max_batch", view.max_batch, "Most requests in one batch."),
                ("gate_worker_kv_blocks_free", view.kv_blocks_free, "Free KV cache blocks."),
                ("gate_worker_kv_blocks_total", view.kv_blocks_total, "KV cache blocks."),
            ):
                if value is not None:
                    yield GaugeMetricFamily(name, doc, value=value)
            per_tenant: dict[str, Any] = {
                "running": GaugeMetricFamily(
                    "gate_worker_tenant_running", "Requests in the batch.", labels=["tenant"]
                ),
                "waiting": GaugeMetricFamily(
                    "gate_worker_tenant_waiting", "Requests waiting.", labels=["tenant"]
                ),
                "service": CounterMetricFamily(
                    "gate_worker_tenant_service",
                    "Weighted tokens served (w_in per prompt token, w_out per output token).",
                    labels=["tenant"],
                ),
                "prompt_tokens": CounterMetricFamily(
                    "gate_worker_tenant_prompt_tokens",
                    "Prompt tokens prefilled.",
                    labels=["tenant"],
                ),
                "output_tokens": CounterMetricFamily(
                    "gate_worker_tenant_output_tokens", "Tokens generated.", labels=["tenant"]
                ),
            }
            for tenant, figures in view.tenants.items():
                for field, family in per_tenant.items():
                    family.add_metric([tenant], getattr(figures, field))
            yield from per_tenant.values()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector())
    return registry


async def _stream(
    events: AsyncIterator[TextDelta | Finished], shaper: ResponseShaper, parsed: ParsedRequest
) -> AsyncIterator[bytes]:
    slot = parsed.include_usage
    if shaper.endpoint == "chat":  # OpenAI opens a chat stream with the role and empty content
        yield _sse(shaper.chunk("", first=True, usage_slot=slot))
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                yield _sse(shaper.chunk(event.text, usage_slot=slot))
            else:
                yield _sse(shaper.chunk(None, finish=event.finish_reason, usage_slot=slot))
                if parsed.include_usage:
                    yield _sse(shaper.usage_chunk(event))
    except Exception as exc:
        # Headers are gone: the error can only travel as an event (OpenAI's clients raise on it).
        log.exception("generation failed")
        yield _sse(error_body(f"generation failed: {exc}", kind="server_error"))
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    yield _sse("[DONE]")


def serve(
    *,
    model: str | None,
    random_init: str | None,
    size: str,
    host: str,
    port: int,
    device: str,
    dtype: str | None,
    max_new_tokens_cap: int,
    options: EngineOptions,
    run: Callable[[Any, str, int], None],
) -> None:
    """Load the model, start the engine, then listen through ``run`` (``serving.runner``, see
    ``puzzles.worker.cli``): the port opens only once both are ready."""
    from puzzles.worker.backends import create_backend
    from puzzles.worker.model import load_model, random_model

    # The GGUF loader draws its own tqdm bar, which transformers' switch does not reach; this
    # process is ours, so silence it here rather than in the library code.
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    loaded = (
        random_model(random_init, size=size, device=device, dtype=dtype)
        if random_init
        else load_model(model or "smollm2", device, dtype)
    )
    log.info("loaded %s on %s in %.1f s", loaded.model_id, loaded.device, loaded.load_seconds)
    backend = create_backend(loaded, options)
    app = create_app(backend, max_new_tokens_cap=max_new_tokens_cap)
    try:
        run(app, host, port)
    finally:
        backend.close()
