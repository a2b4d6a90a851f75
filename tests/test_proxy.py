"""The reverse proxy: unit tests at the httpx transport seam, then the real thing on loopback
(an upstream Starlette app and the gated proxy, each served by uvicorn, real clue bank and Redis)."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import tracemalloc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message
from starlette.websockets import WebSocket

from gate.config import GateConfig
from gate.errors import ConfigError
from gate.identity import parse_networks
from gate.puzzle import puzzle_from_dict
from gate.rules import Action, Rule, RuleSet
from gate.store import RedisStore
from middleware import BUDGET_HEADER
from middleware.proxy import ReverseProxy, proxy_app
from middleware.proxy_cli import load_rules, parse_rule, parse_rules, serve_proxy
from serving.runtime import Runtime, open_runtime
from tests.bank_solver import BankSolver
from tests.plugins.leaks import LEDGER
from tests.support import delete_keys, free_port, key_prefix
from tests.support import on_loopback as serving

UPSTREAM = "http://upstream.internal:8080"
JSON = {"Accept": "application/json"}
MiB = 1024 * 1024

# -- unit tests: ReverseProxy driven as an ASGI app, the upstream behind httpx2.MockTransport ---------


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    messages: int = 0  # body messages sent

    def header(self, name: str) -> str | None:
        values = [v.decode() for n, v in self.headers if n.decode().lower() == name]
        return values[-1] if values else None


async def call(
    app: ASGIApp,
    path: str = "/page",
    *,
    raw_path: bytes | None = None,
    query: bytes = b"",
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    body: Sequence[bytes] = (),
    client: tuple[str, int] = ("203.0.113.9", 5000),
) -> Reply:
    """One request through ``app``; ``receive`` reports a disconnect only after the response ends."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode() if raw_path is None else raw_path,
        "query_string": query,
        "headers": [(b"host", b"proxy.example")]
        + [(n.lower().encode(), v.encode()) for n, v in headers],
        "client": client,
        "server": ("127.0.0.1", 80),
    }
    chunks = list(body) or [b""]
    done = anyio.Event()
    reply = Reply(0, [])

    async def receive() -> Message:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            reply.status, reply.headers = message["status"], list(message.get("headers", []))
        else:
            reply.body += message.get("body", b"")
            reply.messages += 1
            if not message.get("more_body", False):
                done.set()

    with anyio.fail_after(5):
        await app(scope, receive, send)
    return reply


@dataclass
class Upstream:
    """A MockTransport upstream that records what it was sent."""

    respond: Callable[[httpx2.Request], httpx2.Response] = lambda request: httpx2.Response(
        200, text="ok"
    )
    seen: list[httpx2.Request] = field(default_factory=list)

    def transport(self) -> httpx2.MockTransport:
        def handler(request: httpx2.Request) -> httpx2.Response:
            self.seen.append(request)
            return self.respond(request)

        return httpx2.MockTransport(handler)


def proxy_for(upstream: Upstream, **options: Any) -> ReverseProxy:
    return ReverseProxy(UPSTREAM, transport=upstream.transport(), **options)


async def test_hop_by_hop_headers_are_dropped_both_ways() -> None:
    upstream = Upstream(
        lambda request: httpx2.Response(
            200,
            headers=[
                ("Connection", "close, X-Upstream-Hop"),
                ("X-Upstream-Hop", "1"),
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Authenticate", "Basic"),
                ("Trailer", "X-Checksum"),
                ("Upgrade", "h2c"),
                ("Gate-Budget-Remaining", "999"),  # only the gate may report budgets
                ("X-Kept", "yes"),
            ],
            content=b"body",
        )
    )
    reply = await call(
        proxy_for(upstream),
        headers=[
            ("Connection", "keep-alive, X-Client-Hop"),
            ("X-Client-Hop", "secret"),
            ("Keep-Alive", "300"),
            ("TE", "trailers"),
            ("Trailer", "X-Checksum"),
            ("Upgrade", "websocket"),
            ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
            ("Proxy-Connection", "keep-alive"),
            ("X-Kept", "yes"),
        ],
    )
    assert reply.status == 200 and reply.body == b"body"
    sent = upstream.seen[0].headers
    for name in (
        "connection",
        "x-client-hop",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
    ):
        assert name not in sent, name
    assert sent["x-kept"] == "yes" and sent["host"] == "upstream.internal:8080"
    names = {name for name, _ in reply.headers}
    assert names.isdisjoint(
        {
            b"connection",
            b"x-upstream-hop",
            b"keep-alive",
            b"proxy-authenticate",
            b"trailer",
            b"upgrade",
            b"gate-budget-remaining",
        }
    )
    assert reply.header("x-kept") == "yes"


async def test_the_proxy_writes_its_own_forwarding_headers_and_drops_the_clients() -> None:
    upstream = Upstream()
    spoofed = [
        ("X-Forwarded-For", "198.51.100.7"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Uri", "/free"),
        ("X-Forwarded-Prefix", "/free"),
        ("Forwarded", "for=198.51.100.7;proto=https"),
        ("X-Real-IP", "198.51.100.7"),
        ("X-Original-URI", "/free"),
        ("X-Original-URL", "/free"),
        ("X-Rewrite-URL", "/free"),
    ]
    reply = await call(proxy_for(upstream), headers=spoofed)
    assert reply.status == 200
    sent = upstream.seen[0].headers
    assert sent.get_list("x-forwarded-for") == ["203.0.113.9"]
    assert sent.get_list("x-forwarded-proto") == ["http"]
    assert sent.get_list("x-forwarded-host") == ["proxy.example"]
    for name in (
        "x-forwarded-uri",
        "x-forwarded-prefix",
        "forwarded",
        "x-real-ip",
        "x-original-uri",
        "x-original-url",
        "x-rewrite-url",
    ):
        assert name not in sent, name


async def test_forwarding_headers_from_a_trusted_proxy_name_the_client() -> None:
    upstream = Upstream()
    proxy = proxy_for(upstream, trusted_proxies=parse_networks(["10.0.0.0/8"]))
    await call(
        proxy,
        headers=[
            ("X-Forwarded-For", "198.51.100.7, 10.1.1.1"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "www.example"),
        ],
        client=("10.0.0.2", 4000),
    )
    sent = upstream.seen[0].headers
    # The chain collapses to the one client the gate resolved: the upstream trusts only the proxy.
    assert sent.get_list("x-forwarded-for") == ["198.51.100.7"]
    assert sent["x-forwarded-proto"] == "https" and sent["x-forwarded-host"] == "www.example"


async def test_the_request_target_is_forwarded_byte_for_byte() -> None:
    upstream = Upstream()
    await call(
        proxy_for(upstream),
        "/a b/~user;v=1/caf\u00e9",
        raw_path=b"/a%20b/%7Euser;v=1/caf%C3%A9",
        query=b"q=%2F..%2F&r=%252e&empty",
    )
    assert upstream.seen[0].url.raw_path == b"/a%20b/%7Euser;v=1/caf%C3%A9?q=%2F..%2F&r=%252e&empty"

    based = Upstream()
    await call(ReverseProxy(UPSTREAM + "/site/", transport=based.transport()), "/x/", query=b"y=1")
    assert based.seen[0].url.raw_path == b"/site/x/?y=1"


@pytest.mark.parametrize(
    ("path", "raw_path"),
    [
        ("/free/../api/x", b"/free/../api/x"),
        ("/api/../free", b"/api/%2e%2e/free"),
        ("/api/x", b"/api%2Fx"),
        ("/api\\x", b"/api%5cx"),
        ("/free/%2e%2e/api", b"/free/%252e%252e/api"),
        ("//api/x", b"//api/x"),
        ("/free//api", b"/free//api"),
        ("/free/./api", b"/free/./api"),
        ("/free/..;/api/x", b"/free/..;/api/x"),
        ("/free/x\x00", b"/free/x%00"),
        ("/free/y", b"/free/x"),  # the decoded path the gate saw is not what the raw one says
    ],
)
async def test_paths_that_read_two_ways_are_refused(path: str, raw_path: bytes) -> None:
    upstream = Upstream()
    reply = await call(proxy_for(upstream), path, raw_path=raw_path)
    assert reply.status == 400 and json.loads(reply.body)["error"] == "ambiguous_path"
    assert upstream.seen == []


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (f"{UPSTREAM}/next?x=1#top", "/next?x=1#top"),
        ("http://UPSTREAM.internal:8080", "/"),
        ("/relative/path", "/relative/path"),
        ("sibling", "sibling"),
        ("https://sso.example/login?back=1", "https://sso.example/login?back=1"),  # allowed
        ("https://evil.example/", None),
        ("http://upstream.internal:9999/", None),  # another port is another origin
        ("https://upstream.internal:8080/", None),  # and so is another scheme
        ("//evil.example/", None),
        ("/\\evil.example/", None),
        (f"{UPSTREAM}//evil.example/", None),
        ("javascript:alert(1)", None),
    ],
)
async def test_upstream_redirects_stay_on_the_site(location: str, expected: str | None) -> None:
    upstream = Upstream(lambda request: httpx2.Response(302, headers={"Location": location}))
    proxy = proxy_for(upstream, allowed_redirect_origins=["https://sso.example"])
    reply = await call(proxy)
    if expected is None:
        assert reply.status == 502 and json.loads(reply.body)["error"] == "offsite_redirect"
        assert reply.header("location") is None
    else:
        assert reply.status == 302 and reply.header("location") == expected


async def test_redirects_under_a_base_path_drop_it() -> None:
    upstream = Upstream(
        lambda request: httpx2.Response(301, headers={"Location": f"{UPSTREAM}/site/b?c"})
    )
    reply = await call(ReverseProxy(UPSTREAM + "/site", transport=upstream.transport()), "/a")
    assert reply.status == 301 and reply.header("location") == "/b?c"


@pytest.mark.parametrize(
    ("error", "status", "code", "title"),
    [
        (httpx2.ConnectError("refused"), 502, "upstream_unreachable", "Bad gateway"),
        (httpx2.RemoteProtocolError("garbage"), 502, "upstream_unreachable", "Bad gateway"),
        (httpx2.ReadTimeout("slow"), 504, "upstream_timeout", "Gateway timeout"),
        (httpx2.ConnectTimeout("slow"), 504, "upstream_timeout", "Gateway timeout"),
    ],
)
async def test_upstream_failures_answer_a_clear_page(
    error: Exception, status: int, code: str, title: str
) -> None:
    def fail(request: httpx2.Request) -> httpx2.Response:
        raise error

    proxy = proxy_for(Upstream(fail))
    reply = await call(proxy, headers=[("Accept", "application/json")])
    assert reply.status == status and json.loads(reply.body)["error"] == code
    page = await call(proxy, headers=[("Accept", "text/html")])
    assert page.status == status and title in page.body.decode()
    assert "upstream.internal" not in page.body.decode()  # internal addresses stay inside


async def test_bodies_over_the_limit_are_refused_before_or_while_streaming() -> None:
    upstream = Upstream(lambda request: httpx2.Response(200, content=request.content))
    proxy = proxy_for(upstream, max_body=1000)
    declared = await call(
        proxy, method="POST", headers=[("Content-Length", "1001")], body=[b"x" * 1001]
    )
    assert declared.status == 413 and upstream.seen == []
    streamed = await call(
        proxy,
        method="POST",
        headers=[("Transfer-Encoding", "chunked")],
        body=[b"x" * 600, b"x" * 600],
    )
    assert streamed.status == 413 and json.loads(streamed.body)["error"] == "body_too_large"
    fits = await call(
        proxy, method="POST", headers=[("Content-Length", "1000")], body=[b"x" * 500, b"y" * 500]
    )
    assert fits.status == 200 and fits.body == b"x" * 500 + b"y" * 500
    assert upstream.seen[-1].headers["content-length"] == "1000"


async def test_large_responses_are_streamed_in_chunks() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"z" * 100_000

    upstream = Upstream(lambda request: httpx2.Response(200, content=chunks()))
    reply = await call(proxy_for(upstream))
    assert reply.status == 200 and len(reply.body) == 800_000 and reply.messages > 2


async def test_lifespan_shutdown_closes_the_client_it_owns() -> None:
    proxy = proxy_for(Upstream())
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message["type"])

    await proxy({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert proxy.client.is_closed


@pytest.mark.parametrize(
    "url", ["ftp://host", "http://", "http://host/?q=1", "http://user:pw@host", "not a url"]
)
def test_unusable_upstreams_are_refused_at_start(url: str) -> None:
    with pytest.raises(ConfigError):
        ReverseProxy(url)


# -- the --rule syntax -----------------------------------------------------------------------------


def test_rule_strings_parse_into_rules() -> None:
    api = parse_rule("/api/=price:3000:budget=50:ttl=600:free=5")
    assert (api.prefix, api.action, api.price, api.budget, api.pass_ttl, api.free_per_window) == (
        "/api/",
        Action.PRICE,
        3000,
        50,
        600,
        5,
    )
    assert parse_rule(" /static/ = allow ").action is Action.ALLOW
    assert parse_rule("/admin/=DENY").action is Action.DENY
    assert parse_rule("/x=price:10").budget == Rule("/x").budget  # defaults as in Rule
    rules = parse_rules(["/api/=price:3000", "/api/v2/=allow"])
    assert rules.match("/api/v2/x").action is Action.ALLOW


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("/api/", "expected PREFIX=allow"),
        ("api/=allow", "'api/'"),
        ("/api/=charge:3", "'charge'"),
        ("/api/=price", "token count"),
        ("/api/=price:lots", "price 'lots'"),
        ("/api/=price:0", "price '0'"),
        ("/api/=price:30:budget=-1", "budget '-1'"),
        ("/api/=price:30:ttl=soon", "ttl 'soon'"),
        ("/api/=price:30:colour=red", "'colour=red'"),
        ("/api/=price:30:budget=2:budget=3", "given twice"),
        ("/api/=allow:budget=5", "allow takes no options"),
        ("/api/=price:99999999", "exceeds"),
    ],
)
def test_bad_rule_strings_name_the_bad_part(text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=r"^rule ") as caught:
        rules = parse_rules([text])
        # A price no puzzle can pay is refused by the gatekeeper, with the rule named.
        from gate.gatekeeper import Gatekeeper

        Gatekeeper(None, None, None, rules)  # type: ignore[arg-type]
    assert named in str(caught.value)


def test_duplicate_prefixes_and_rule_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has a rule already"):
        parse_rules(["/a/=allow", "/a/=deny"])
    path = tmp_path / "rules.txt"
    path.write_text("# prices\n/api/=price:3000:budget=50  # the API\n\n/admin/=deny\n")
    assert load_rules(path) == ["/api/=price:3000:budget=50", "/admin/=deny"]
    with pytest.raises(ConfigError, match="cannot read rules file"):
        load_rules(tmp_path / "missing.txt")


# -- integration: a real upstream and the real gate on loopback ------------------------------------

PROXY_RULES = RuleSet(
    [Rule("/api/", price=1_500, budget=50, pass_ttl=600), Rule("/free/", action=Action.ALLOW)]
)
CHUNK = 64 * 1024


@dataclass
class Site:
    """The upstream app and what it saw."""

    seen: list[dict[str, Any]] = field(default_factory=list)
    release: anyio.Event = field(default_factory=anyio.Event)

    def app(self) -> Starlette:
        async def echo(request: Request) -> Response:
            record = {
                "raw_path": request.scope["raw_path"].decode(),
                "query": request.scope["query_string"].decode(),
                "headers": [[n.decode(), v.decode()] for n, v in request.scope["headers"]],
            }
            self.seen.append(record)
            return JSONResponse(record)

        async def upload(request: Request) -> Response:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
            return JSONResponse({"size": size})

        async def download(request: Request) -> Response:
            size = int(request.query_params["size"])
            block = b"d" * CHUNK

            async def body() -> AsyncIterator[bytes]:
                for start in range(0, size, CHUNK):
                    yield block[: min(CHUNK, size - start)]

            return StreamingResponse(body(), media_type="application/octet-stream")

        async def slow(request: Request) -> Response:
            await self.release.wait()  # set when the test ends: no sleeping
            return Response("late")

        async def redirect(request: Request) -> Response:
            return RedirectResponse(str(request.url_for("landing")), status_code=302)

        async def landing(request: Request) -> Response:
            return Response("landed")

        async def ws_echo(websocket: WebSocket) -> None:
            await websocket.accept()
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await websocket.send_text("echo:" + message["text"])
                else:
                    await websocket.send_bytes(message["bytes"][::-1])

        return Starlette(
            routes=[
                Route("/api/upload", upload, methods=["POST"]),
                Route("/api/download", download),
                Route("/free/slow", slow),
                Route("/free/redirect", redirect),
                Route("/free/landing", landing, name="landing"),
                WebSocketRoute("/api/ws", ws_echo),
                Route("/{path:path}", echo, methods=["GET", "POST"]),
            ]
        )


@pytest.fixture
async def runtime(seeded_state: Path, redis_url: str) -> AsyncIterator[Runtime]:
    store = RedisStore.from_url(redis_url, prefix=key_prefix("proxy"))
    config = GateConfig.from_env({}, state_dir=seeded_state)
    opened = await open_runtime(config, PROXY_RULES, store=store, seed=False)
    try:
        yield opened
    finally:
        await opened.close()
        await delete_keys(redis_url, store.prefix)


@pytest.fixture
async def site() -> AsyncIterator[tuple[Site, str]]:
    upstream = Site()
    async with serving(upstream.app()) as base:
        try:
            yield upstream, base
        finally:
            upstream.release.set()  # before the server stops: it waits for requests in flight


@asynccontextmanager
async def gated_proxy(upstream: str, runtime: Runtime, **options: Any) -> AsyncIterator[str]:
    app = proxy_app(upstream, runtime.gatekeeper, **options)
    try:
        async with serving(app) as base:
            yield base
    finally:
        await app.app.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def proxy(site: tuple[Site, str], runtime: Runtime) -> AsyncIterator[str]:
    async with gated_proxy(
        site[1], runtime, timeout=httpx2.Timeout(5.0, read=0.5), max_body=64 * MiB
    ) as base:
        yield base


async def pay(base: str, runtime: Runtime, path: str = "/api/x") -> dict[str, str]:
    """Solve the gate's puzzle for ``path`` as an agent would; returns the Authorization header."""
    solver = await BankSolver.load(runtime.engine)  # type: ignore[arg-type]
    async with httpx2.AsyncClient(base_url=base) as client:
        unpaid = await client.get(path, headers=JSON)
        assert unpaid.status_code == 401
        challenge = unpaid.json()["challenge"]
        answers = solver.solve(puzzle_from_dict(challenge["puzzle"]))
        solved = await client.post(challenge["url"], json={"answers": answers})
        assert solved.status_code == 200, solved.text
        return {"Authorization": solved.json()["authorization"]}


async def raw_request(base: str, target: str, headers: Sequence[tuple[str, str]] = ()) -> int:
    """Send ``target`` exactly as written (HTTP clients normalise dot segments); return the status."""
    host, port = base.removeprefix("http://").split(":")
    with anyio.fail_after(5):
        reader, writer = await asyncio.open_connection(host, int(port))
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        response = await reader.read()
        writer.close()
        await writer.wait_closed()
    return int(response.split(b" ", 2)[1])


async def test_a_paying_agent_reaches_the_upstream_and_an_unpaid_one_is_challenged(
    proxy: str, site: tuple[Site, str], runtime: Runtime
) -> None:
    upstream, _ = site
    async with httpx2.AsyncClient(base_url=proxy) as client:
        free = await client.get("/free/page")
        assert free.status_code == 200 and BUDGET_HEADER not in free.headers
        unpaid = await client.get("/api/data", headers=JSON)
        assert unpaid.status_code == 401 and unpaid.headers["www-authenticate"].startswith(
            "ReasoningGate "
        )
    authorization = await pay(proxy, runtime)
    async with httpx2.AsyncClient(base_url=proxy) as client:
        paid = await client.get("/api/data?x=1", headers={**authorization, **JSON})
    assert paid.status_code == 200 and paid.headers[BUDGET_HEADER] == "49"
    seen = dict((name, value) for name, value in upstream.seen[-1]["headers"])
    assert upstream.seen[-1]["raw_path"] == "/api/data" and upstream.seen[-1]["query"] == "x=1"
    assert "authorization" not in seen  # the pass never reaches the site behind
    assert seen["x-forwarded-for"] == "127.0.0.1" and seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == proxy.removeprefix("http://")


async def test_spoofed_forwarding_headers_from_an_untrusted_peer_are_ignored(
    proxy: str, site: tuple[Site, str], runtime: Runtime
) -> None:
    upstream, _ = site
    authorization = await pay(proxy, runtime)
    spoofed = {"X-Forwarded-For": "198.51.100.7", "Forwarded": "for=198.51.100.7"}
    async with httpx2.AsyncClient(base_url=proxy) as client:
        # The pass is bound to the peer's network; a forged chain neither breaks nor replaces it.
        paid = await client.get("/api/x", headers={**authorization, **spoofed})
        assert paid.status_code == 200
        # Nor does it buy a fresh identity: the unpaid request is challenged as the peer.
        unpaid = await client.get("/api/x", headers={**spoofed, **JSON})
        assert unpaid.status_code == 401
    headers = upstream.seen[-1]["headers"]
    assert [v for n, v in headers if n == "x-forwarded-for"] == ["127.0.0.1"]
    assert not any(n == "forwarded" for n, _ in headers)


async def test_header_and_path_tricks_cannot_reach_a_priced_path_for_free(
    proxy: str, site: tuple[Site, str], runtime: Runtime
) -> None:
    upstream, _ = site
    for header in ("X-Original-URI", "X-Original-URL", "X-Forwarded-Uri", "X-Rewrite-URL"):
        assert await raw_request(proxy, "/api/secret", [(header, "/free/x")]) == 401, header
    # Spellings the gate resolves to the priced path: refused before pricing too (the proxy
    # would refuse them after payment, so a challenge for them would be a puzzle for nothing).
    for target in (
        "/free/../api/secret",
        "/free/%2e%2e/api/secret",
        "/free/%2E%2E/api/secret",
        "/free%2f..%2fapi/secret",
        "/free/./../api/secret",
        "//api/secret",
        "/free/x/../../api/secret",
    ):
        assert await raw_request(proxy, target) == 400, target
    # Spellings the gate reads as free but an upstream might read as priced: refused.
    for target in (
        "/api/%2e%2e/free/x",
        "/api/../free/x",
        "/api/x/..%2f..%2ffree/y",
        "/free/%252e%252e/api/secret",
        "/free//api/secret",
        "/free/..;/api/secret",
        "/free/..%5capi/secret",
    ):
        assert await raw_request(proxy, target) == 400, target
    assert upstream.seen == []
    # A paying client still only reaches the exact path it paid for.
    authorization = await pay(proxy, runtime)
    header = [("Authorization", authorization["Authorization"])]
    for target in ("/api%2fsecret", "/api/x/%2e%2e/secret", "/api/x/../secret"):
        assert await raw_request(proxy, target, header) == 400, target
    assert await raw_request(proxy, "/api/secret", header) == 200
    assert [seen["raw_path"] for seen in upstream.seen] == ["/api/secret"]


async def test_fifty_mebibytes_stream_up_and_down_in_bounded_memory(
    proxy: str, runtime: Runtime
) -> None:
    size = 50 * MiB
    authorization = await pay(proxy, runtime)
    block = b"u" * CHUNK

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(size // CHUNK):
            yield block

    recorded_before = len(LEDGER.haystacks)
    tracemalloc.start()
    try:
        with anyio.fail_after(60):
            async with httpx2.AsyncClient(base_url=proxy, timeout=30) as client:
                sent = await client.post("/api/upload", content=upload(), headers=authorization)
                assert sent.status_code == 200 and sent.json() == {"size": size}
                received = 0
                async with client.stream(
                    "GET", f"/api/download?size={size}", headers=authorization
                ) as response:
                    assert response.status_code == 200
                    async for chunk in response.aiter_raw():
                        received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    # The suite's leak scan keeps a copy of every body the gate sends; that copy is not the proxy's.
    recorded = sum(sys.getsizeof(text) for _, text in LEDGER.haystacks[recorded_before:])
    # Client, proxy and upstream all run in this process: together they stay far below one body.
    assert peak - recorded < 8 * MiB, f"peak {(peak - recorded) / MiB:.1f} MiB"


async def test_an_upload_over_the_limit_is_refused(
    site: tuple[Site, str], runtime: Runtime
) -> None:
    async with (
        gated_proxy(site[1], runtime, max_body=MiB) as base,
        httpx2.AsyncClient(base_url=base) as client,
    ):
        response = await client.post("/free/x", content=b"x" * (MiB + 1), headers=JSON)
    assert response.status_code == 413 and response.json()["error"] == "body_too_large"


async def test_an_upstream_that_is_down_answers_502(runtime: Runtime) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    async with (
        gated_proxy(f"http://127.0.0.1:{closed}", runtime) as base,
        httpx2.AsyncClient(base_url=base) as client,
    ):
        response = await client.get("/free/x", headers=JSON)
        page = await client.get("/free/x", headers={"Accept": "text/html"})
    assert response.status_code == 502 and response.json()["error"] == "upstream_unreachable"
    assert page.status_code == 502 and "Bad gateway" in page.text


async def test_a_slow_upstream_answers_504_at_the_read_timeout(
    site: tuple[Site, str], runtime: Runtime
) -> None:
    async with (
        gated_proxy(site[1], runtime, timeout=httpx2.Timeout(2.0, read=0.2)) as base,
        httpx2.AsyncClient(base_url=base) as client,
    ):
        with anyio.fail_after(30):  # a hang guard only; the upstream never answers on its own
            response = await client.get("/free/slow", headers=JSON)
    # The upstream answers only when the test ends, so a 504 is the read timeout firing.
    assert response.status_code == 504 and response.json()["error"] == "upstream_timeout"


async def test_upstream_redirects_are_rewritten_to_the_proxy(proxy: str) -> None:
    async with httpx2.AsyncClient(base_url=proxy) as client:
        response = await client.get("/free/redirect")
        assert response.status_code == 302 and response.headers["location"] == "/free/landing"
        followed = await client.get("/free/redirect", follow_redirects=True)
    assert followed.status_code == 200 and followed.text == "landed"


async def test_websockets_pass_through_for_paying_clients_only(
    proxy: str, runtime: Runtime
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    url = proxy.replace("http://", "ws://") + "/api/ws"
    with anyio.fail_after(10):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, proxy=None):
                pass
        assert refused.value.response.status_code == 403
        authorization = await pay(proxy, runtime)
        async with connect(url, additional_headers=authorization, proxy=None) as ws:
            await ws.send("hello")
            assert await ws.recv() == "echo:hello"
            await ws.send(b"\x01\x02\x03")
            assert await ws.recv() == b"\x03\x02\x01"


async def test_serve_proxy_serves_the_rules_it_is_given(
    site: tuple[Site, str], seeded_state: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = anyio.Event()
    lines: list[str] = []

    def ready(line: str) -> None:
        lines.append(line)
        started.set()

    config = GateConfig.from_env({}, state_dir=seeded_state, store_url="memory://")
    task = asyncio.create_task(
        serve_proxy(
            site[1],
            port=port,
            rules=["/api/=price:1500:budget=5", "/admin/=deny"],
            config=config,
            log_level="warning",
            ready=ready,
        )
    )
    try:
        with anyio.fail_after(20):
            await started.wait()
            async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                assert (await client.get("/api/x", headers=JSON)).status_code == 401
                assert (await client.get("/admin/", headers=JSON)).status_code == 403
                assert (await client.get("/free/x")).status_code == 200
    finally:
        task.cancel()
        with anyio.fail_after(15), pytest.raises(asyncio.CancelledError):
            await task
    assert "2 rules" in lines[0]


async def test_serve_proxy_can_mount_the_dashboard_outside_the_gate(
    site: tuple[Site, str], seeded_state: Path
) -> None:
    port = free_port()
    started = anyio.Event()
    config = GateConfig.from_env({}, state_dir=seeded_state, store_url="memory://")
    task = asyncio.create_task(
        serve_proxy(
            site[1],
            port=port,
            rules=["/=price:1500"],
            config=config,
            log_level="warning",
            admin=True,
            ready=lambda line: started.set(),
        )
    )
    try:
        with anyio.fail_after(20):
            await started.wait()
            async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                assert (await client.get("/page", headers=JSON)).status_code == 401
                login = await client.get("/_gate/admin/login")
                assert login.status_code == 200 and "<form" in login.text
                # Everything else of the dashboard still wants a login, not a puzzle.
                assert (await client.get("/_gate/admin/")).status_code in (302, 303)
    finally:
        task.cancel()
        with anyio.fail_after(15), pytest.raises(asyncio.CancelledError):
            await task


async def test_spellings_other_upstreams_read_as_priced_are_refused_before_any_charge(
    proxy: str, site: tuple[Site, str], runtime: Runtime
) -> None:
    """Tomcat drops ';' parameters, IIS ignores case, trailing dots and spaces: strict path
    semantics refuse every spelling such an upstream could read as the priced /api/ (the 12 of
    issue 18 and more), and a pass presented with one is not charged."""
    upstream, _ = site
    spellings = (
        "/api;x/secret",
        "/api;/secret",
        "/api;jsessionid=1/secret",
        "/free/..;/api/secret",
        "/API/secret",
        "/Api/secret",
        "/aPI/secret",
        "/api./secret",
        "/api../secret",
        "/api%20/secret",
        "/api.%20/secret",
        "/API;x/secret",
        "/API./secret",
        "/api::$DATA/secret",
        "/%EF%BD%81pi/secret",  # full-width 'a': NFKC reads it as /api/
        "/API~1/secret",
    )
    for target in spellings:
        assert await raw_request(proxy, target, [("Accept", "application/json")]) == 400, target
    assert upstream.seen == []
    authorization = await pay(proxy, runtime)
    header = [("Authorization", authorization["Authorization"])]
    for target in spellings:
        assert await raw_request(proxy, target, header) == 400, target
    async with httpx2.AsyncClient(base_url=proxy) as client:
        paid = await client.get("/api/secret", headers=authorization)
    # The first request the pass paid for: nothing was charged for the refused ones.
    assert paid.status_code == 200 and paid.headers[BUDGET_HEADER] == "49"
    # Spellings every reading agrees on still pass: free with a ';', a dot or upper case.
    for target in ("/free;x/page", "/FREE/page", "/free./page", "/free/Page.HTML"):
        assert await raw_request(proxy, target) == 200, target


async def test_client_address_and_url_override_headers_never_reach_the_upstream(
    proxy: str, site: tuple[Site, str], runtime: Runtime
) -> None:
    from middleware.forwarding import CLIENT_ADDRESS_HEADERS, URL_OVERRIDE_HEADERS

    upstream, _ = site
    named = [
        "CF-Connecting-IP",
        "X-Cluster-Client-IP",
        "Fastly-Client-IP",
        "True-Client-IP",
        "X-Real-IP",
        "X-Original-Path",
        "X-Envoy-Original-Path",
        "X-Rewrite-Path",
        "X-Override-URL",
        "X-HTTP-Path-Override",
        "X-Request-URI",
        "X-Original-Request-URI",
        "Request-URI",
        "X-Proxy-URL",
        "X-Destination-URL",
        "X-Original-URL",
        "X-Original-URI",
        "X-Rewrite-URL",
        "X-HTTP-Method-Override",
    ]
    urls = {name.decode() for name in URL_OVERRIDE_HEADERS}
    every = urls | {name.decode() for name in CLIENT_ADDRESS_HEADERS}
    assert {name.lower() for name in named} <= every  # the list, and more
    spoofed = [(name, "/api/secret" if name in urls else "198.51.100.7") for name in sorted(every)]
    assert await raw_request(proxy, "/free/page", spoofed) == 200
    seen = {name for name, _ in upstream.seen[-1]["headers"]}
    assert not seen & every, seen & every
    forwarded = dict(upstream.seen[-1]["headers"])
    assert forwarded["x-forwarded-for"] == "127.0.0.1"


async def test_header_limits_hold_over_the_proxy_socket_and_charge_nothing(
    proxy: str, site: tuple[Site, str], runtime: Runtime
) -> None:
    upstream, _ = site
    auth = await pay(proxy, runtime)
    reached = len(upstream.seen)
    many = [(f"x-h{i}", "v") for i in range(101)]  # GATE_MAX_HEADERS is 100 by default
    huge = [("Cookie", "; ".join(f"c{i}={'v' * 500}" for i in range(70)))]  # ~35 KiB > 32 KiB
    async with httpx2.AsyncClient(base_url=proxy) as client:
        for extra in (many, huge):
            refused = await client.get("/api/x", headers=[*auth.items(), *JSON.items(), *extra])
            assert refused.status_code == 431, refused.text
            assert refused.json()["error"] == "headers_too_large"
        paid = await client.get("/api/x", headers={**auth, **JSON})
    assert paid.status_code == 200
    assert paid.headers[BUDGET_HEADER] == "49"  # of 50: the two refused requests cost nothing
    assert len(upstream.seen) == reached + 1  # and never reached the upstream
