"""``ReasoningGate(app, rules)``: the gate starts and stops with the server's lifespan."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gate import GateConfig, Rule
from middleware import ReasoningGate

JSON = {"Accept": "application/json"}


def config(state: Path) -> GateConfig:
    return GateConfig.from_env({}, state_dir=state)


def test_a_starlette_app_is_gated_with_one_line(seeded_state: Path) -> None:
    site = Starlette(routes=[Route("/{p:path}", lambda request: PlainTextResponse("ok"))])
    app = ReasoningGate(site, rules=[Rule("/api/", price=600)], config=config(seeded_state))
    with TestClient(app) as client:
        assert client.get("/").text == "ok"
        response = client.get("/api/x", headers=JSON)
        assert response.status_code == 401 and response.json()["challenge"]["puzzle"]["gates"]
    assert app.runtime is None  # closed at shutdown


async def bare_asgi(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    assert scope["type"] == "http", "this app knows nothing about lifespan"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"bare"})


def test_an_app_without_lifespan_support_is_gated_too(seeded_state: Path) -> None:
    app = ReasoningGate(bare_asgi, rules=[Rule("/api/", price=600)], config=config(seeded_state))
    with TestClient(app) as client:
        assert client.get("/").text == "bare"
        assert client.get("/api/x", headers=JSON).status_code == 401


def test_before_startup_nothing_gets_through(seeded_state: Path) -> None:
    app = ReasoningGate(bare_asgi, rules=[Rule("/api/", price=600)], config=config(seeded_state))
    client = TestClient(app)  # no context manager: lifespan never runs
    assert client.get("/").status_code == 503
