"""The LLM pool against fake OpenAI-compatible servers served by ``httpx2.MockTransport``.

Each fake backend is a host (``a.test``, ``b.test``) with a script of responses; a request past the
end of its script gets a plain successful stream.  Sleeping is injected and recorded, and the clock
is manual, so backoff and cooldown are checked without waiting.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from gate.clock import ManualClock
from gate.errors import ConfigError, GateError
from puzzles.llm import (
    Backend,
    CallTags,
    LLMBadResponse,
    LLMPool,
    LLMRateLimited,
    LLMRejected,
    LLMTimeout,
    LLMUnavailable,
    backends_from_env,
    estimate_prompt_tokens,
    estimate_tokens,
    load_backends,
)

MESSAGES = [{"role": "user", "content": "Write a clue for the word ORBIT."}]
TAGS = CallTags(tenant="acme", job_class="batch", job_id="job-1")
SCHEMA = {"title": "clue list", "type": "object", "properties": {"clue": {"type": "string"}}}

Scripted = httpx2.Response | Exception | Callable[[httpx2.Request], Awaitable[httpx2.Response]]


# -- fake servers ---------------------------------------------------------------------------------


def chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage_chunk(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def sse(*events: dict[str, Any] | str) -> bytes:
    lines = [e if isinstance(e, str) else json.dumps(e) for e in events]
    return "".join(f"data: {line}\n\n" for line in [*lines, "[DONE]"]).encode()


def stream(parts: list[str], usage: tuple[int, int] | None = (12, 3)) -> httpx2.Response:
    events: list[dict[str, Any] | str] = [chunk(part) for part in parts]
    events.append(chunk(finish="stop"))
    if usage is not None:
        events.append(usage_chunk(*usage))
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse(*events))


def error(status: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    body = {"error": {"message": f"status {status}", "type": "x", "code": None}}
    return httpx2.Response(status, headers=headers, json=body)


class StallingStream(httpx2.AsyncByteStream):
    """Sends some chunks, then the read times out, as a hung server would."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body
        raise httpx2.ReadTimeout("stalled")


def backend_of(request: httpx2.Request) -> str:
    return request.url.host.removesuffix(".test")


class FakeServers:
    def __init__(self) -> None:
        self.scripts: dict[str, list[Scripted]] = {}
        self.requests: list[httpx2.Request] = []

    def script(self, host: str, *responses: Scripted) -> None:
        self.scripts.setdefault(host, []).extend(responses)

    def chat_requests(self, host: str | None = None) -> list[dict[str, Any]]:
        return [
            json.loads(r.content)
            for r in self.requests
            if r.url.path.endswith("/chat/completions") and host in (None, backend_of(r))
        ]

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        script = self.scripts.get(backend_of(request), [])
        step = script.pop(0) if script else None
        if step is None:
            if request.url.path.endswith("/models"):
                return httpx2.Response(200, json={"object": "list", "data": []})
            return stream(["ok"])
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx2.Response):
            return step
        return await step(request)


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def backend(name: str, **overrides: Any) -> Backend:
    fields: dict[str, Any] = {
        "name": name,
        "base_url": f"http://{name}.test/v1",
        "model": f"model-{name}",
        "capabilities": frozenset({"chat"}),
        "timeout": 5.0,
    }
    fields.update(overrides)
    return Backend(**fields)


@pytest.fixture
def servers() -> FakeServers:
    return FakeServers()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1000.0)


@pytest.fixture
async def make_pool(
    servers: FakeServers, sleeps: Sleeps, clock: ManualClock
) -> AsyncIterator[Callable[..., LLMPool]]:
    client = httpx2.AsyncClient(transport=httpx2.MockTransport(servers.handle))

    def build(*backends: Backend, **options: Any) -> LLMPool:
        options.setdefault("retries", 2)
        return LLMPool(
            list(backends),
            http_client=client,
            sleep=sleeps,
            clock=clock,
            rng=random.Random(7),
            **options,
        )

    yield build
    await client.aclose()


# -- streaming and usage --------------------------------------------------------------------------


async def test_a_streamed_completion_returns_the_text_and_charges_job_tenant_and_flow(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.script("a", stream(["Path ", "round ", "a planet"], usage=(20, 5)))
    pool = make_pool(backend("a"))

    completion = await pool.chat(MESSAGES, tags=TAGS, max_tokens=64)

    assert completion.text == "Path round a planet"
    assert (completion.prompt_tokens, completion.completion_tokens) == (20, 5)
    assert completion.usage_reported
    assert (completion.backend, completion.model, completion.finish_reason) == (
        "a",
        "model-a",
        "stop",
    )
    snapshot = pool.ledger.snapshot()
    for usage in (
        snapshot.by_job["job-1"],
        snapshot.by_tenant["acme"],
        snapshot.by_flow[("acme", "batch")],
    ):
        assert (usage.prompt_tokens, usage.completion_tokens, usage.calls) == (20, 5, 1)


async def test_the_request_streams_with_usage_and_the_callers_parameters(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    pool = make_pool(backend("a"))

    await pool.chat(MESSAGES, tags=TAGS, max_tokens=64, temperature=0.7, stop=["\n\n"])

    (body,) = servers.chat_requests()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("model-a", 64, 0.7)
    assert body["stop"] == ["\n\n"]
    assert body["messages"] == MESSAGES


async def test_usage_adds_up_per_job_and_stays_apart_per_tenant_and_job_class(
    make_pool: Callable[..., LLMPool],
) -> None:
    pool = make_pool(backend("a"))

    await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)
    await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)
    await pool.chat(MESSAGES, tags=CallTags("acme", "interactive"), max_tokens=8)
    await pool.chat(MESSAGES, tags=CallTags("other", "batch", "job-2"), max_tokens=8)

    assert pool.ledger.job("job-1").calls == 2
    assert pool.ledger.job("job-1").total_tokens == 30
    assert pool.ledger.flow("acme", "batch").calls == 2
    assert pool.ledger.flow("acme", "interactive").calls == 1
    assert pool.ledger.tenant("acme").calls == 3
    assert pool.ledger.tenant("other").prompt_tokens == 12
    assert pool.ledger.snapshot().total.calls == 4


async def test_without_a_usage_chunk_tokens_are_estimated_and_flagged(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.script("a", stream(["twelve chars"], usage=None))
    pool = make_pool(backend("a"))

    completion = await pool.chat(MESSAGES, tags=TAGS, max_tokens=64)

    assert not completion.usage_reported
    assert completion.completion_tokens == estimate_tokens("twelve chars") == 3
    assert completion.prompt_tokens == estimate_prompt_tokens(MESSAGES) > 0
    assert pool.ledger.job("job-1").estimated_calls == 1


# -- structured output ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capabilities", "sends_schema"),
    [({"chat", "json"}, True), ({"chat"}, False)],
    ids=["json-capable", "chat-only"],
)
async def test_a_json_schema_is_sent_only_to_json_capable_backends(
    servers: FakeServers,
    make_pool: Callable[..., LLMPool],
    capabilities: set[str],
    sends_schema: bool,
) -> None:
    servers.script("a", stream(['{"clue": "x"}']))
    pool = make_pool(backend("a", capabilities=frozenset(capabilities)))

    completion = await pool.chat(MESSAGES, tags=TAGS, max_tokens=64, json_schema=SCHEMA)

    assert completion.text == '{"clue": "x"}'  # raw text either way: parsing is the caller's
    (body,) = servers.chat_requests()
    if sends_schema:
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "clue_list", "schema": SCHEMA, "strict": True},
        }
    else:
        assert "response_format" not in body


async def test_a_schema_call_prefers_a_json_capable_backend_when_capacity_is_equal(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    pool = make_pool(backend("a"), backend("b", capabilities=frozenset({"chat", "json"})))

    completion = await pool.chat(MESSAGES, tags=TAGS, max_tokens=8, json_schema=SCHEMA)

    assert completion.backend == "b"


# -- retries and failover -------------------------------------------------------------------------


async def test_a_server_error_is_retried_on_the_same_backend_after_a_backoff(
    servers: FakeServers, make_pool: Callable[..., LLMPool], sleeps: Sleeps
) -> None:
    servers.script("a", error(500))
    pool = make_pool(backend("a"), backoff=1.0)

    completion = await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert completion.text == "ok"
    assert len(servers.chat_requests("a")) == 2
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0
    assert pool.ledger.job("job-1").failed_calls == 1
    assert pool.is_up("a")


async def test_repeated_retries_back_off_exponentially_with_jitter(
    servers: FakeServers, make_pool: Callable[..., LLMPool], sleeps: Sleeps
) -> None:
    servers.script("a", error(502), error(503))
    pool = make_pool(backend("a"), backoff=1.0, retries=2)

    await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    first, second = sleeps
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 2.0


async def test_a_backend_that_refuses_connections_fails_over_to_the_next_without_waiting(
    servers: FakeServers, make_pool: Callable[..., LLMPool], sleeps: Sleeps
) -> None:
    servers.script("a", httpx2.ConnectError("connection refused"))
    pool = make_pool(backend("a"), backend("b"))

    completion = await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert completion.backend == "b"
    assert sleeps == []
    assert not pool.is_up("a")  # marked down: the next call goes straight to b
    await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)
    assert len(servers.chat_requests("a")) == 1


async def test_a_down_backend_is_tried_again_after_its_cooldown(
    servers: FakeServers, make_pool: Callable[..., LLMPool], clock: ManualClock
) -> None:
    servers.script("a", httpx2.ConnectError("connection refused"))
    pool = make_pool(backend("a"), backend("b"), cooldown_s=30.0)
    await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    clock.advance(30.0)
    completion = await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert completion.backend == "a"
    assert pool.is_up("a")


async def test_a_429_is_retried_after_the_servers_retry_after_and_leaves_the_backend_up(
    servers: FakeServers, make_pool: Callable[..., LLMPool], sleeps: Sleeps
) -> None:
    servers.script("a", error(429, headers={"retry-after": "3"}))
    pool = make_pool(backend("a"), backoff=0.5)

    completion = await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert completion.text == "ok"
    assert sleeps == [3.0]
    assert pool.is_up("a")


async def test_a_429_without_retry_after_is_retried_with_the_normal_backoff(
    servers: FakeServers, make_pool: Callable[..., LLMPool], sleeps: Sleeps
) -> None:
    servers.script("a", error(429), error(429), error(429))
    pool = make_pool(backend("a"), backoff=0.5, retries=2)

    with pytest.raises(LLMRateLimited) as raised:
        await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert len(sleeps) == 2 and all(0.25 <= s <= 1.0 for s in sleeps)
    assert isinstance(raised.value, LLMUnavailable)
    assert isinstance(raised.value.__cause__, openai.RateLimitError)


async def test_a_400_is_raised_at_once_as_rejected_without_retry_or_failover(
    servers: FakeServers, make_pool: Callable[..., LLMPool], sleeps: Sleeps
) -> None:
    servers.script("a", error(400))
    pool = make_pool(backend("a"), backend("b"))

    with pytest.raises(LLMRejected) as raised:
        await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert raised.value.status_code == 400
    assert isinstance(raised.value.__cause__, openai.BadRequestError)
    assert len(servers.chat_requests()) == 1
    assert sleeps == []
    assert pool.is_up("a")


async def test_a_timeout_surfaces_as_llm_timeout(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.script("a", httpx2.ReadTimeout("slow"), httpx2.ReadTimeout("slow"))
    pool = make_pool(backend("a"), retries=1)

    with pytest.raises(LLMTimeout) as raised:
        await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert isinstance(raised.value, GateError)
    assert isinstance(raised.value.__cause__, openai.APITimeoutError)
    assert len(servers.chat_requests()) == 2


async def test_a_stream_that_stalls_midway_times_out_and_charges_the_partial_answer(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    stalled = httpx2.Response(
        200,
        headers={"content-type": "text/event-stream"},
        stream=StallingStream(
            b'data: {"id": "1", "choices": [{"index": 0, "delta": {"content": '
            b'"partial answer"}}]}\n\n'
        ),
    )
    servers.script("a", stalled)
    pool = make_pool(backend("a"), retries=0)

    with pytest.raises(LLMTimeout):
        await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    usage = pool.ledger.job("job-1")
    assert (usage.calls, usage.failed_calls) == (0, 1)
    assert usage.completion_tokens == estimate_tokens("partial answer")
    assert usage.prompt_tokens == estimate_prompt_tokens(MESSAGES)


async def test_a_malformed_stream_is_retried_and_then_raised_as_a_bad_response(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    garbage = httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=b"data: {not json\n\n"
    )
    servers.script("a", garbage, garbage)
    pool = make_pool(backend("a"), retries=1)

    with pytest.raises(LLMBadResponse) as raised:
        await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert isinstance(raised.value.__cause__, ValueError)
    assert len(servers.chat_requests()) == 2


async def test_an_error_event_inside_the_stream_fails_over_to_the_next_backend(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    died = httpx2.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content=sse(chunk("half"), {"error": {"message": "engine died", "type": "server"}}),
    )
    servers.script("a", died)
    pool = make_pool(backend("a"), backend("b"))

    completion = await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert (completion.backend, completion.text) == ("b", "ok")
    assert pool.ledger.job("job-1").failed_calls == 1


async def test_when_every_backend_refuses_connections_the_call_raises_unavailable(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.script("a", httpx2.ConnectError("refused"))
    servers.script("b", httpx2.ConnectError("refused"))
    pool = make_pool(backend("a"), backend("b"), retries=5)

    with pytest.raises(LLMUnavailable) as raised:
        await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert isinstance(raised.value.__cause__, openai.APIConnectionError)
    assert len(servers.chat_requests()) == 2  # both marked down: no point in more attempts
    assert pool.ledger.tenant("acme").failed_calls == 2


async def test_repeated_server_errors_mark_a_backend_down(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.script("a", error(500), error(500), error(500))
    pool = make_pool(backend("a"), retries=2, down_after=3)

    with pytest.raises(LLMUnavailable):
        await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert not pool.is_up("a")


# -- health ---------------------------------------------------------------------------------------


async def test_health_probes_the_models_endpoint_and_marks_backends_up_or_down(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.script("b", httpx2.ConnectError("refused"))
    pool = make_pool(backend("a"), backend("b"))

    assert await pool.health() == {"a": True, "b": False}
    assert [r.url.path for r in servers.requests] == ["/v1/models", "/v1/models"]
    assert not pool.is_up("b")

    assert await pool.health() == {"a": True, "b": True}  # b answers again
    assert pool.is_up("b")


async def test_the_health_watch_probes_on_its_interval_until_cancelled(
    servers: FakeServers, sleeps: Sleeps, make_pool: Callable[..., LLMPool]
) -> None:
    pool = make_pool(backend("a"))
    watch = asyncio.create_task(pool.watch_health(interval=15))
    await yield_to_other_tasks()
    watch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await watch
    probes = [r for r in servers.requests if r.url.path == "/v1/models"]
    assert len(probes) >= 2 and set(sleeps) == {15}


async def test_when_every_backend_is_down_a_call_fails_fast_without_a_request(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    servers.script("a", error(503))
    pool = make_pool(backend("a"))
    await pool.health()

    with pytest.raises(LLMUnavailable, match="marked down"):
        await pool.chat(MESSAGES, tags=TAGS, max_tokens=8)

    assert servers.chat_requests() == []


# -- capacity -------------------------------------------------------------------------------------


async def yield_to_other_tasks(times: int = 10) -> None:
    """Let every other ready task run (zero-second sleeps: no waiting involved)."""
    for _ in range(times):
        await asyncio.sleep(0)


async def test_the_in_flight_cap_bounds_concurrent_requests_per_backend(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    in_flight = 0
    peak = 0

    async def slow(request: httpx2.Request) -> httpx2.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await yield_to_other_tasks()  # the other callers pile up here unless the cap stops them
        in_flight -= 1
        return stream(["ok"])

    servers.script("a", *[slow] * 6)
    pool = make_pool(backend("a", max_in_flight=2))

    await asyncio.gather(*(pool.chat(MESSAGES, tags=TAGS, max_tokens=8) for _ in range(6)))

    assert peak == 2
    assert pool.ledger.job("job-1").calls == 6


async def test_a_burst_spreads_over_backends_by_free_capacity(
    servers: FakeServers, make_pool: Callable[..., LLMPool]
) -> None:
    async def slow(request: httpx2.Request) -> httpx2.Response:
        await yield_to_other_tasks()
        return stream(["ok"])

    servers.script("a", *[slow] * 4)
    servers.script("b", *[slow] * 4)
    pool = make_pool(backend("a", max_in_flight=3), backend("b", max_in_flight=1))

    completions = await asyncio.gather(
        *(pool.chat(MESSAGES, tags=TAGS, max_tokens=8) for _ in range(4))
    )

    assert sorted(c.backend for c in completions) == ["a", "a", "a", "b"]


# -- configuration --------------------------------------------------------------------------------


def test_backends_load_from_yaml_with_defaults() -> None:
    (first, second) = load_backends(
        """
        - name: gpu-0
          base_url: http://10.0.0.5:8000/v1/
          model: qwen
          max_in_flight: 8
          capabilities: [chat, json]
          timeout: 30
        - {name: laptop, base_url: "http://127.0.0.1:8080/v1", model: llama}
        """
    )
    assert first == Backend(
        "gpu-0", "http://10.0.0.5:8000/v1", "qwen", "none", 8, frozenset({"chat", "json"}), 30.0
    )
    assert (second.api_key, second.max_in_flight, second.capabilities, second.timeout) == (
        "none",
        4,
        frozenset({"chat"}),
        60.0,
    )


def test_backends_load_from_a_json_file_named_by_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "backends.json"
    path.write_text(
        json.dumps(
            {
                "backends": [
                    {"name": "a", "base_url": "https://x/v1", "model": "m", "api_key_env": "K"}
                ]
            }
        )
    )

    (loaded,) = backends_from_env({"GATE_LLM_BACKENDS": str(path), "K": "sk-secret"})

    assert loaded.api_key == "sk-secret"
    assert "sk-secret" not in repr(loaded)


def test_no_backends_are_configured_when_the_variable_is_unset() -> None:
    assert backends_from_env({}) == ()


def test_a_missing_backends_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GATE_LLM_BACKENDS"):
        backends_from_env({"GATE_LLM_BACKENDS": str(tmp_path / "absent.yaml")})


VALID = {"name": "gpu-0", "base_url": "http://h/v1", "model": "m"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**VALID, "name": ""}, r"#1: field 'name' must be a non-empty string"),
        ({"name": "gpu-0", "model": "m"}, r"#1 \('gpu-0'\): field 'base_url' must be"),
        ({**VALID, "base_url": "h:8000"}, r"'gpu-0'\): field 'base_url' must start with http"),
        ({**VALID, "model": 3}, r"'gpu-0'\): field 'model' must be a non-empty string, got int"),
        ({**VALID, "max_in_flight": 0}, r"'gpu-0'\): field 'max_in_flight' must be a positive"),
        ({**VALID, "max_in_flight": True}, r"field 'max_in_flight' must be a positive integer"),
        ({**VALID, "timeout": -1}, r"'gpu-0'\): field 'timeout' must be a positive number"),
        ({**VALID, "capabilities": ["jsno"]}, r"field 'capabilities' has unknown 'jsno'"),
        ({**VALID, "capabilities": "chat"}, r"field 'capabilities' must be a list of strings"),
        ({**VALID, "modle": "m"}, r"'gpu-0'\): field 'modle' is not known"),
        ({**VALID, "api_key_env": "UNSET"}, r"field 'api_key_env' names 'UNSET', which is unset"),
    ],
)
def test_config_errors_name_the_entry_and_field(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_backends(json.dumps([entry]))


def test_config_errors_count_entries_from_one() -> None:
    with pytest.raises(ConfigError, match=r"LLM backend #2 \('b'\): field 'model'"):
        load_backends(json.dumps([{**VALID, "name": "a"}, {**VALID, "name": "b", "model": ""}]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "expected a non-empty list of backends, got list"),
        ("name: a", "expected a non-empty list of backends, got dict"),
        ("- [a, b]", r"#1: expected a mapping, got list"),
        ("- {name: a", "not valid YAML"),
        (json.dumps([VALID, VALID]), "backend name 'gpu-0' is used twice"),
        ("backends.yaml", "cannot read LLM backends file backends.yaml"),
    ],
)
def test_malformed_backend_files_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_backends(text)
