"""The OpenAI wire format: request validation and response/chunk shaping, framework-free.

Only what a single small model can honour is accepted; anything it cannot (``n`` > 1, tools,
log-probabilities, images) is a clear 400 rather than a silently different answer.  Unknown fields
are ignored, as OpenAI's own clients send many optional ones.

``response_format`` (``text``, ``json_object``, ``json_schema``) is accepted and ignored: a
135M-parameter model is steered to JSON by the prompt, not by constrained decoding.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from puzzles.worker.backend import (
    ChatMessage,
    ChatPrompt,
    Finished,
    Prompt,
    SamplingParams,
    TextPrompt,
)

Endpoint = Literal["chat", "completion"]
DEFAULT_MAX_TOKENS = 256
ROLES = ("system", "user", "assistant", "developer")
MAX_STOPS = 4  # OpenAI's limit


class RequestError(ValueError):
    """Bad client input: answered 400 with OpenAI's error shape."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    endpoint: Endpoint
    prompt: Prompt
    params: SamplingParams
    stream: bool
    include_usage: bool
    tenant: str | None  # OpenAI's ``user``: the tenant tag for the fair scheduler to come
    echo_model: str | None


def error_body(
    message: str, *, kind: str = "invalid_request_error", param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def parse_request(body: Any, endpoint: Endpoint, *, max_new_tokens_cap: int) -> ParsedRequest:
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    prompt = _chat_prompt(body) if endpoint == "chat" else _text_prompt(body)
    if _opt(body, "n", int, 1) != 1:
        raise RequestError("only n=1 is supported", "n")
    if endpoint == "chat":
        for name in ("tools", "functions"):
            if body.get(name):
                raise RequestError(f"{name} are not supported by this server", name)
        if body.get("logprobs"):
            raise RequestError("logprobs are not supported", "logprobs")
    elif body.get("logprobs") is not None or body.get("echo") or _opt(body, "best_of", int, 1) != 1:
        raise RequestError("logprobs, echo and best_of are not supported", "logprobs")
    _check_response_format(body.get("response_format"))
    stream = _opt(body, "stream", bool, False)
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or not stream):
        raise RequestError(
            "stream_options is an object, allowed only with stream: true", "stream_options"
        )
    include_usage = bool(options and _opt(options, "include_usage", bool, False))
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError("model must be a string", "model")
    return ParsedRequest(
        endpoint=endpoint,
        prompt=prompt,
        params=_sampling(body, max_new_tokens_cap),
        stream=stream,
        include_usage=include_usage,
        tenant=_opt(body, "user", str, None),
        echo_model=model,
    )


def _opt(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name)
    if value is None:
        return default
    # bool is an int in Python, but true is no valid max_tokens.
    if isinstance(value, bool) and kind is not bool:
        raise RequestError(f"{name} must be of type {kind.__name__}", name)
    if kind is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, kind):
        raise RequestError(f"{name} must be of type {kind.__name__}", name)
    return value


def _chat_prompt(body: dict[str, Any]) -> ChatPrompt:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty array", "messages")
    parsed = []
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise RequestError(f"{param} must be an object", param)
        role = message.get("role")
        if role not in ROLES:
            raise RequestError(f"{param}.role must be one of {', '.join(ROLES)}", f"{param}.role")
        parsed.append(
            ChatMessage("system" if role == "developer" else role, _content(message, param))
        )
    return ChatPrompt(tuple(parsed))


def _content(message: dict[str, Any], param: str) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only text can be served
        texts = []
        for part in content:
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise RequestError(
                    f"{param}.content: only text parts are supported", f"{param}.content"
                )
            texts.append(part["text"])
        return "".join(texts)
    raise RequestError(
        f"{param}.content must be a string or an array of text parts", f"{param}.content"
    )


def _text_prompt(body: dict[str, Any]) -> TextPrompt:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise RequestError("prompt must be a non-empty string (one prompt per request)", "prompt")
    return TextPrompt(prompt)


def _check_response_format(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or value.get("type") not in (
        "text",
        "json_object",
        "json_schema",
    ):
        raise RequestError(
            "response_format.type must be text, json_object or json_schema", "response_format"
        )
    if value["type"] == "json_schema" and not isinstance(value.get("json_schema"), dict):
        raise RequestError("response_format.json_schema must be an object", "response_format")


def _sampling(body: dict[str, Any], cap: int) -> SamplingParams:
    name = (
        "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    )
    max_tokens = _opt(body, name, int, min(DEFAULT_MAX_TOKENS, cap))
    if max_tokens < 1:
        raise RequestError(f"{name} must be at least 1", name)
    temperature = _opt(body, "temperature", float, 1.0)
    if not 0 <= temperature <= 2:
        raise RequestError("temperature must be between 0 and 2", "temperature")
    top_p = _opt(body, "top_p", float, 1.0)
    if not 0 < top_p <= 1:
        raise RequestError("top_p must be in (0, 1]", "top_p")
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else stop
    if stops is None:
        stops = ()
    if (
        not isinstance(stops, list | tuple)
        or len(stops) > MAX_STOPS
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise RequestError(f"stop must be a non-empty string or up to {MAX_STOPS} of them", "stop")
    return SamplingParams(
        # Clipped rather than refused: the cap protects the server, not the request's meaning.
        max_new_tokens=min(max_tokens, cap),
        temperature=temperature,
        top_p=top_p,
        stop=tuple(stops),
        seed=_opt(body, "seed", int, None),
    )


class ResponseShaper:
    """Builds the JSON objects of one response, streaming or not, with a shared id and clock."""

    def __init__(self, endpoint: Endpoint, model: str) -> None:
        self.endpoint = endpoint
        self.model = model
        prefix = "chatcmpl" if endpoint == "chat" else "cmpl"
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def _envelope(self, obj: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def chunk(
        self,
        text: str | None,
        *,
        first: bool = False,
        finish: str | None = None,
        usage_slot: bool = False,
    ) -> dict[str, Any]:
        if self.endpoint == "chat":
            delta: dict[str, Any] = {}
            if first:
                delta["role"] = "assistant"
            if text is not None:
                delta["content"] = text
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            out = self._envelope("chat.completion.chunk", [choice])
        else:
            choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
            out = self._envelope("text_completion", [choice])
        if usage_slot:  # with include_usage, every chunk carries "usage": null (OpenAI's shape)
            out["usage"] = None
        return out

    def usage_chunk(self, done: Finished) -> dict[str, Any]:
        obj = "chat.completion.chunk" if self.endpoint == "chat" else "text_completion"
        return self._envelope(obj, []) | {"usage": usage(done)}

    def complete(self, text: str, done: Finished) -> dict[str, Any]:
        if self.endpoint == "chat":
            message = {"role": "assistant", "content": text, "refusal": None}
            choice = {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": done.finish_reason,
            }
            out = self._envelope("chat.completion", [choice])
        else:
            choice = {
                "index": 0,
                "text": text,
                "logprobs": None,
                "finish_reason": done.finish_reason,
            }
            out = self._envelope("text_completion", [choice])
        return out | {"usage": usage(done)}


def usage(done: Finished) -> dict[str, int]:
    return {
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "total_tokens": done.prompt_tokens + done.completion_tokens,
    }
