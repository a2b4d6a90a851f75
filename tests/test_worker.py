"""``gate worker``: the OpenAI-compatible API over a tiny random model, and the real SmolLM2.

The API tests run in-process (httpx2's ASGI transport) on a 2-layer random Llama served by the
continuous batching engine: greedy decoding of a seeded model is deterministic, so stop sequences,
streaming and plain ``generate`` can be compared exactly.  The tests marked ``model`` talk to a real
server process (``smollm2_server`` in ``tests.plugins.model``).  Fairness between tenants is in
``tests/test_worker_fair.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest
from typer.testing import CliRunner

from puzzles.worker.backend import TextAssembler

CHAT = "/v1/chat/completions"
TEXT = "/v1/completions"
HELLO = [{"role": "user", "content": "Hello there"}]


# A small, explicit cache: on a CPU the engine would otherwise size it from free memory.
SMALL_ENGINE = {"block_size": 16, "num_blocks": 128, "max_batch_tokens": 256}


def require_model_stack() -> None:
    for name in ("torch", "transformers", "psutil"):
        if importlib.util.find_spec(name) is None:
            pytest.fail(
                f"the worker tests need {name}: bash scripts/install-model.sh", pytrace=False
            )


@pytest.fixture(scope="module")
def tiny_model() -> Any:
    require_model_stack()
    from puzzles.worker.model import random_model

    return random_model("llama")


# The API runs on both engines: the fast one (``gate worker``'s default, 16 KV slots on a CPU)
# and transformers' continuous batching (128 pages of 16 tokens).
KV_BLOCKS = {"fast": 16, "transformers": 128}


@pytest.fixture(scope="module", params=["fast", "transformers"])
def backend(tiny_model: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    from puzzles.worker.backends import create_backend
    from puzzles.worker.options import EngineOptions

    engine = create_backend(tiny_model, EngineOptions(engine=request.param, **SMALL_ENGINE))
    engine.engine_name = request.param
    yield engine
    engine.close()


def _client(backend: Any, **options: Any) -> httpx2.AsyncClient:
    from puzzles.worker.app import create_app

    app = create_app(backend, **options)
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://worker")


@pytest.fixture
async def client(backend: Any) -> AsyncIterator[httpx2.AsyncClient]:
    async with _client(backend) as http:
        yield http


def _events(response: httpx2.Response) -> list[Any]:
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f]
    assert all(f.startswith("data: ") for f in frames)
    assert frames[-1] == "data: [DONE]"
    return [json.loads(f.removeprefix("data: ")) for f in frames[:-1]]


def _prompt_tokens(tiny_model: Any, messages: list[dict[str, str]]) -> int:
    ids = tiny_model.tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    return len(ids)


async def _chat(client: httpx2.AsyncClient, **fields: Any) -> httpx2.Response:
    body = {"model": "any", "messages": HELLO, "temperature": 0, "max_tokens": 24} | fields
    return await client.post(CHAT, json=body)


async def test_health_and_models_name_the_model(client: httpx2.AsyncClient) -> None:
    health = (await client.get("/health")).json()
    assert health == {"status": "ok", "model": "random-llama-tiny"}
    models = (await client.get("/v1/models")).json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["random-llama-tiny"]


async def test_greedy_answers_equal_plain_generate(
    client: httpx2.AsyncClient, tiny_model: Any
) -> None:
    import torch

    ids = tiny_model.tokenizer.apply_chat_template(
        HELLO, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    with torch.inference_mode():
        out = tiny_model.model.generate(
            torch.tensor([ids]), max_new_tokens=24, do_sample=False, attention_mask=None
        )
    expected = tiny_model.tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)
    answers = await asyncio.gather(*[_chat(client) for _ in range(3)])  # batched together
    assert [a.json()["choices"][0]["message"]["content"] for a in answers] == [expected] * 3


async def test_chat_without_streaming_reports_exact_usage(
    client: httpx2.AsyncClient, tiny_model: Any
) -> None:
    response = await _chat(client, user="tenant-a")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] == "length"  # a random model never says <|im_end|> this early
    assert body["usage"] == {
        "prompt_tokens": _prompt_tokens(tiny_model, HELLO),
        "completion_tokens": 24,
        "total_tokens": _prompt_tokens(tiny_model, HELLO) + 24,
    }


async def test_streamed_chat_matches_the_plain_answer_and_ends_with_usage_and_done(
    client: httpx2.AsyncClient,
) -> None:
    plain = (await _chat(client)).json()
    response = await _chat(client, stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    events = _events(response)
    assert len({e["id"] for e in events}) == 1
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    *content, finish, usage = events
    assert all(e["usage"] is None for e in [*content, finish])
    assert (
        "".join(e["choices"][0]["delta"].get("content", "") for e in content)
        == plain["choices"][0]["message"]["content"]
    )
    assert finish["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "length",
    }
    assert usage["choices"] == []
    assert usage["usage"] == plain["usage"]


async def test_streams_without_include_usage_carry_no_usage(client: httpx2.AsyncClient) -> None:
    events = _events(await _chat(client, stream=True))
    assert all("usage" not in e for e in events)
    assert events[-1]["choices"][0]["finish_reason"] == "length"


async def test_text_completions_stream_and_not(client: httpx2.AsyncClient, tiny_model: Any) -> None:
    body = {"prompt": "Once upon a time", "temperature": 0, "max_tokens": 10}
    plain = (await client.post(TEXT, json=body)).json()
    assert plain["object"] == "text_completion"
    assert plain["usage"]["prompt_tokens"] == len(
        tiny_model.tokenizer("Once upon a time")["input_ids"]
    )
    assert plain["usage"]["completion_tokens"] == 10
    events = _events(
        await client.post(
            TEXT, json=body | {"stream": True, "stream_options": {"include_usage": True}}
        )
    )
    assert (
        "".join(e["choices"][0]["text"] for e in events if e["choices"])
        == plain["choices"][0]["text"]
    )
    assert events[-1]["usage"] == plain["usage"]


async def test_a_stop_sequence_ends_the_answer_before_it(client: httpx2.AsyncClient) -> None:
    full = (await _chat(client, max_tokens=40)).json()["choices"][0]["message"]["content"]
    # A stop taken from the middle of the greedy answer: same prompt, same answer, cut there.
    start = next(
        i
        for i in range(len(full) // 3, len(full) - 2)
        if full[i : i + 2].isprintable() and "\ufffd" not in full[i : i + 2]
    )
    stop = full[start : start + 2]
    expected = full[: full.index(stop)]
    body = (await _chat(client, max_tokens=40, stop=[stop, "never-seen-stop"])).json()
    assert body["choices"][0]["message"]["content"] == expected
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] < 40
    events = _events(await _chat(client, max_tokens=40, stop=stop, stream=True))
    streamed = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert streamed == expected
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


async def test_sampling_with_a_temperature_runs_beside_greedy_requests(
    client: httpx2.AsyncClient,
) -> None:
    greedy = [_chat(client) for _ in range(2)]
    sampled = [_chat(client, temperature=1.5, top_p=0.95, seed=7) for _ in range(4)]
    answers = [r.json() for r in await asyncio.gather(*greedy, *sampled)]
    assert answers[0]["choices"][0]["message"] == answers[1]["choices"][0]["message"]
    assert all(a["usage"]["completion_tokens"] == 24 for a in answers[2:])
    # A shared batch cannot honour per-request seeds: four samples are not all the same text.
    assert len({a["choices"][0]["message"]["content"] for a in answers[2:]}) > 1


async def test_max_tokens_is_clipped_to_the_server_cap(backend: Any) -> None:
    async with _client(backend, max_new_tokens_cap=5) as http:
        body = (await _chat(http, max_tokens=50)).json()
    assert body["usage"]["completion_tokens"] == 5
    assert body["choices"][0]["finish_reason"] == "length"


async def test_concurrent_requests_share_batches_without_sharing_state(
    client: httpx2.AsyncClient,
) -> None:
    answers = await asyncio.gather(*[_chat(client, max_tokens=12 + i % 2) for i in range(6)])
    contents = [r.json()["choices"][0]["message"]["content"] for r in answers]
    assert len(set(contents[0::2])) == 1 and len(set(contents[1::2])) == 1


async def test_response_format_json_schema_is_accepted(client: httpx2.AsyncClient) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "clue", "schema": {"type": "object"}}}
    assert (await _chat(client, response_format=schema)).status_code == 200


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content",
        ),
        ({"n": 2}, "n"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": [""]}, "stop"),
        ({"tools": [{"type": "function"}]}, "tools"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"user": 42}, "user"),
    ],
)
async def test_bad_input_is_a_clear_400(
    client: httpx2.AsyncClient, fields: dict[str, Any], param: str
) -> None:
    response = await _chat(client, **fields)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]


async def test_body_that_is_not_json_or_too_large_is_refused(backend: Any) -> None:
    async with _client(backend, max_body=1000) as http:
        bad = await http.post(
            CHAT, content=b"{not json", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 400
        assert "not valid JSON" in bad.json()["error"]["message"]
        big = await http.post(CHAT, json={"messages": [{"role": "user", "content": "x" * 2000}]})
        assert big.status_code == 413
        assert (await http.post(TEXT, json={"prompt": ""})).status_code == 400


async def _idle_queue(client: httpx2.AsyncClient) -> dict[str, Any]:
    """The queue once the engine has dropped every request (cancellations land within a step)."""
    for _ in range(500):
        body: dict[str, Any] = (await client.get("/queue")).json()
        if body["running"] == 0 and body["waiting"] == 0:
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"the engine still holds requests: {body}")


async def test_queue_reports_the_engine_and_each_tenant(
    client: httpx2.AsyncClient, tiny_model: Any, backend: Any
) -> None:
    before = (await _idle_queue(client))["tenants"].get("queue-a")
    assert before is None
    # A prompt no earlier test sent: prefix caching would skip (and not charge) a shared prefix.
    fresh = [{"role": "user", "content": "Queue test: an unseen prompt"}]
    await _chat(client, user="queue-a", max_tokens=7, messages=fresh)
    await _chat(client, user="queue-b", max_tokens=3)
    body = await _idle_queue(client)
    assert set(body) == {
        "model",
        "running",
        "waiting",
        "max_batch",
        "kv_blocks_free",
        "kv_blocks_total",
        "tenants",
    }
    assert body["model"] == "random-llama-tiny"
    blocks = KV_BLOCKS[backend.engine_name]
    assert body["kv_blocks_total"] == blocks and 0 < body["kv_blocks_free"] <= blocks
    assert isinstance(body["max_batch"], int) and body["max_batch"] > 0
    prompt = _prompt_tokens(tiny_model, fresh)
    assert body["tenants"]["queue-a"] == {
        "running": 0,
        "waiting": 0,
        "service": prompt + 2.0 * 7,  # w_in = 1 per prompt token, w_out = 2 per output token
        "prompt_tokens": prompt,
        "output_tokens": 7,
    }
    assert body["tenants"]["queue-b"]["output_tokens"] == 3


async def test_the_tenant_header_wins_over_the_user_field(client: httpx2.AsyncClient) -> None:
    body = {"messages": HELLO, "temperature": 0, "max_tokens": 2, "user": "from-body"}
    await client.post(CHAT, json=body, headers={"X-Gate-Tenant": "from-header"})
    tenants = (await _idle_queue(client))["tenants"]
    assert tenants["from-header"]["output_tokens"] == 2
    assert "from-body" not in tenants


async def test_metrics_show_the_queue_numbers(client: httpx2.AsyncClient) -> None:
    await _chat(client, user="metrics-t", max_tokens=4)
    queue = await _idle_queue(client)
    text = (await client.get("/metrics")).text
    assert "gate_worker_running 0.0" in text
    assert f"gate_worker_kv_blocks_total {float(queue['kv_blocks_total'])}" in text
    assert 'gate_worker_tenant_output_tokens_total{tenant="metrics-t"} 4.0' in text
    service = queue["tenants"]["metrics-t"]["service"]
    assert f'gate_worker_tenant_service_total{{tenant="metrics-t"}} {service}' in text


async def test_closing_a_generation_early_frees_its_slot_and_cache(
    client: httpx2.AsyncClient, backend: Any
) -> None:
    # The HTTP layer closes the generator when a client leaves (ASGITransport buffers whole
    # responses, so the disconnect itself is driven here at the backend seam).
    from puzzles.worker.backend import SamplingParams, TextPrompt

    idle = await _idle_queue(client)
    prompt = await backend.prepare(TextPrompt("a prompt long enough to fill one cache block"))
    events = backend.generate(prompt, SamplingParams(max_new_tokens=500), tenant="leaver")
    await events.__anext__()  # a token arrived: the request holds cache now
    busy = backend.queue()
    assert busy.running + busy.waiting == 1
    assert busy.kv_blocks_free < idle["kv_blocks_free"]
    await events.aclose()
    after = await _idle_queue(client)
    # Its blocks came back (complete prompt blocks may stay cached for prefix sharing); on a
    # loaded machine the engine may free them a step after it stops counting the request.
    for _ in range(500):
        if after["kv_blocks_free"] > busy.kv_blocks_free:
            break
        await asyncio.sleep(0.01)
        after = await _idle_queue(client)
    assert after["kv_blocks_free"] > busy.kv_blocks_free
    assert after["tenants"]["leaver"]["output_tokens"] < 500


async def test_a_greedy_only_worker_refuses_a_temperature(tiny_model: Any) -> None:
    from puzzles.worker.engine import ContinuousBatchingBackend, EngineOptions

    engine = ContinuousBatchingBackend(tiny_model, EngineOptions(sampling=False, **SMALL_ENGINE))
    try:
        async with _client(engine) as http:
            refused = await _chat(http, temperature=0.8)
            assert refused.status_code == 400
            assert refused.json()["error"]["param"] == "temperature"
            assert (await _chat(http, max_tokens=3)).json()["usage"]["completion_tokens"] == 3
    finally:
        engine.close()


async def test_a_refused_submission_leaves_no_handler_or_ledger_entry(tiny_model: Any) -> None:
    from puzzles.worker.backend import SamplingParams
    from puzzles.worker.engine import ContinuousBatchingBackend, EngineOptions

    engine = ContinuousBatchingBackend(tiny_model, EngineOptions(**SMALL_ENGINE))
    engine.close()  # a stopped engine refuses new requests
    with pytest.raises(RuntimeError, match="not accepting"):
        async for _ in engine.generate([1, 2, 3], SamplingParams(max_new_tokens=2), tenant="t"):
            pass
    assert not engine._manager.output_router.result_handlers
    assert engine.ledger.snapshot([])["t"].waiting == 0


def test_the_assembler_holds_back_partial_characters_and_stop_prefixes() -> None:
    pieces = {1: "Hel", 2: "lo ", 3: "EN", 4: "D", 5: "\ufffd"}

    def decode(ids: Any) -> str:
        text = "".join(pieces[i] for i in ids)
        return text.replace("D\ufffd", "D!") if len(ids) == 5 else text

    text = TextAssembler(decode, stop=["END"])
    assert [text.add(1), text.add(2), text.add(3)] == ["Hel", "lo ", ""]  # "EN" may start "END"
    assert text.add(4) == "" and text.stopped  # "END": cut, never sent
    plain = TextAssembler(decode)
    assert [plain.add(i) for i in (1, 2, 3, 4)] == ["Hel", "lo ", "EN", "D"]
    assert plain.add(5) == "!"  # decode of all five gives "...D!" so only the new char goes out
    partial = TextAssembler(lambda ids: "ab\ufffd")
    assert partial.add(1) == "ab"
    assert partial.flush() == "\ufffd"


def test_gate_worker_wants_exactly_one_model_source() -> None:
    from gate.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["worker"]).exit_code == 2
    assert (
        runner.invoke(app, ["worker", "--model", "smollm2", "--random-init", "llama"]).exit_code
        == 2
    )
    assert (
        runner.invoke(app, ["worker", "--random-init", "llama", "--device", "tpu"]).exit_code == 2
    )


@pytest.mark.model
async def test_smollm2_knows_the_capital_of_france(smollm2_server: str) -> None:
    messages: Any = [{"role": "user", "content": "What is the capital of France?"}]
    if importlib.util.find_spec("openai") is not None:
        from openai import AsyncOpenAI

        async with AsyncOpenAI(
            base_url=f"{smollm2_server}/v1", api_key="unused", timeout=60
        ) as client:
            reply = await client.chat.completions.create(
                model="smollm2", messages=messages, temperature=0, max_tokens=32
            )
        answer = reply.choices[0].message.content or ""
        assert reply.usage is not None and reply.usage.completion_tokens > 0
    else:
        async with httpx2.AsyncClient(base_url=smollm2_server, timeout=60) as http:
            body = (
                await http.post(
                    CHAT, json={"messages": messages, "temperature": 0, "max_tokens": 32}
                )
            ).json()
        answer = body["choices"][0]["message"]["content"]
    assert "Paris" in answer


@pytest.mark.model
async def test_smollm2_streams_with_usage_and_stops_at_its_end_token(smollm2_server: str) -> None:
    body = {
        "messages": [{"role": "user", "content": "Say hello."}],
        "temperature": 0,
        "max_tokens": 64,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with httpx2.AsyncClient(base_url=smollm2_server, timeout=60) as http:
        events = _events(await http.post(CHAT, json=body))
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text.strip()
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert 0 < events[-1]["usage"]["completion_tokens"] < 64
