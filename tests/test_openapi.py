"""The OpenAPI document of the gate's endpoints, served; schemathesis against a running gate
(uvicorn on loopback, real sockets): no generated request gets a server error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx2
import pytest
import schemathesis
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gate.gatekeeper import Gatekeeper
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.rules import Rule, RuleSet
from gate.store import MemoryStore
from middleware import GateMiddleware
from middleware.openapi import openapi_document
from tests.support import FixedWordSource, free_port

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def live_gate() -> Iterator[str]:
    keeper = Gatekeeper(
        MemoryStore(),
        FixedWordSource(),
        PassCodec(KeyRing.generate()),
        RuleSet([Rule("/paid/", price=600, solve_floor=0)]),
    )

    async def page(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = GateMiddleware(Starlette(routes=[Route("/{p:path}", page)]), keeper)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the gate did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_document_is_served_and_names_every_endpoint(live_gate: str) -> None:
    served = httpx2.get(live_gate + "/.gate/openapi.json").json()
    assert served == openapi_document()
    assert set(served["paths"]) == {"/.well-known/reasoning-gate", "/.gate/challenges/{id}"}


@schema.parametrize()
@pytest.mark.filterwarnings("ignore")
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case, live_gate: str) -> None:
    response = case.call(base_url=live_gate, timeout=10)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:200])
