"""The HTTP layer: an OpenAI-compatible Starlette app over any ``Backend``, and ``serve()``.

Endpoints: ``GET /health``, ``GET /v1/models``, ``POST /v1/chat/completions`` and
``POST /v1/completions``, each completion streaming (server-sent events in OpenAI's chunk format,
ending with ``data: [DONE]``) or not.  Errors use OpenAI's ``{"error": {...}}`` shape.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gate.worker.backend import Backend, Finished, PromptError, TextDelta
from gate.worker.protocol import (
    Endpoint,
    ParsedRequest,
    RequestError,
    ResponseShaper,
    error_body,
    parse_request,
)

log = logging.getLogger("gate.worker")

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: far more than any prompt a small-context model can take
DEFAULT_MAX_NEW_TOKENS_CAP = 512


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
            prompt_ids = await backend.prepare(parsed.prompt)
        except RequestError as exc:
            return _error(400, str(exc), param=exc.param)
        except PromptError as exc:
            return _error(400, str(exc), param="messages" if endpoint == "chat" else "prompt")
        shaper = ResponseShaper(endpoint, backend.model_id)
        events = backend.generate(prompt_ids, parsed.params, tenant=parsed.tenant)
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

    async def chat(request: Request) -> Response:
        return await completions(request, "chat")

    async def text(request: Request) -> Response:
        return await completions(request, "completion")

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", text, methods=["POST"]),
        ]
    )


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
    host: str,
    port: int,
    device: str,
    max_new_tokens_cap: int,
) -> None:
    """Load the model, then listen: the port opens only once the model is ready."""
    import uvicorn

    from gate.worker.model import TransformersBackend, load_model, random_model

    # The GGUF loader draws its own tqdm bar, which transformers' switch does not reach; this
    # process is ours, so silence it here rather than in the library code.
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    loaded = (
        random_model(random_init, device=device)
        if random_init
        else load_model(model or "smollm2", device)
    )
    log.info("loaded %s on %s in %.1f s", loaded.model_id, loaded.device, loaded.load_seconds)
    backend = TransformersBackend(loaded)
    app = create_app(backend, max_new_tokens_cap=max_new_tokens_cap)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    finally:
        backend.close()
