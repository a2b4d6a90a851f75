"""Inputs a client controls get a 4xx that says what is wrong, never a 503 or an attempt used."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gate.answers import readable_answer
from gate.config import GateConfig
from gate.gatekeeper import Gatekeeper, GateSettings
from gate.identity import parse_networks
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.rules import Rule, RuleSet
from gate.store import MemoryStore
from middleware import GateMiddleware
from tests.support import FixedWordSource

JSON = {"Accept": "application/json"}


def build(
    trusted: tuple[str, ...] = (), max_headers: int = 100, max_header_bytes: int = 32_768
) -> tuple[TestClient, FixedWordSource]:
    source = FixedWordSource()
    keeper = Gatekeeper(
        MemoryStore(),
        source,
        PassCodec(KeyRing.generate()),
        RuleSet([Rule("/paid/", price=600, budget=2)]),
        GateSettings(
            trusted_proxies=parse_networks(trusted),
            max_headers=max_headers,
            max_header_bytes=max_header_bytes,
        ),
    )

    async def page(request: Request) -> PlainTextResponse:
        # What reached the app: header count and bytes, for the header-limit tests.
        raw = request.scope["headers"]
        return PlainTextResponse(f"ok {len(raw)} {sum(len(n) + len(v) for n, v in raw)}")

    site = Starlette(routes=[Route("/{path:path}", page)])
    client = TestClient(GateMiddleware(site, keeper), client=("10.0.0.2", 4000))
    return client, source


def test_deeply_nested_json_answers_get_422_not_503() -> None:
    client, source = build()
    challenge = client.get("/paid/x", headers=JSON).json()["challenge"]
    for depth in (2_000, 8_000):
        body = b'{"answers": ' + b"[" * depth + b"]" * depth + b"}"
        response = client.post(
            challenge["url"], content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, depth
        assert response.json()["error"] == "malformed_answer"
    # No attempt was used: the right answer still mints.
    solved = client.post(challenge["url"], json={"answers": [source.issued[-1]]})
    assert solved.status_code == 200


def test_confusable_and_control_character_answers_are_refused_without_an_attempt() -> None:
    client, source = build()
    challenge = client.get("/paid/x", headers=JSON).json()["challenge"]
    word = source.issued[-1]
    for answer in (
        word[:-1] + "\u0430",  # Cyrillic a among Latin letters
        word + "\u200d",  # zero-width joiner
        word + "\x00",
        "x" * 257,
    ):
        response = client.post(challenge["url"], json={"answers": [answer]})
        assert response.status_code == 422, ascii(answer)
    assert client.get(challenge["url"], headers=JSON).json()["challenge"]["attempts"] == 5
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in word.upper())  # NFKC folds these
    assert client.post(challenge["url"], json={"answers": [full_width]}).status_code == 200


def test_readable_answer_takes_ordinary_words_in_any_one_script() -> None:
    for word in ("Paris", "São Paulo", "New-York", "Zürich", "Москва", "東京", "Αθήνα"):
        assert readable_answer(word), word
    assert not readable_answer("P\u0430ris")  # a Cyrillic a


def test_an_empty_pass_is_invalid_not_missing() -> None:
    client, _ = build()
    for headers in (
        {"Authorization": "ReasoningGate"},
        {"Authorization": "ReasoningGate   "},
        {"Authorization": "reasoninggate "},
        {"Cookie": "rg_pass="},
        {"Cookie": 'rg_pass=""'},
    ):
        response = client.get("/paid/x", headers={**JSON, **headers})
        assert response.status_code == 401, headers
        assert response.json()["reason"] == "invalid", headers
        assert 'reason="invalid"' in response.headers["www-authenticate"]
    assert client.get("/paid/x", headers=JSON).json()["reason"] == "missing"
    other = client.get("/paid/x", headers={**JSON, "Authorization": "Bearer x"})
    assert other.json()["reason"] == "missing"


def test_a_garbled_forwarding_chain_from_a_trusted_proxy_is_refused_not_shared() -> None:
    client, source = build(trusted=("10.0.0.0/8",))
    # A client behind the proxy with a readable chain pays and gets its own pass.
    challenge = client.get("/paid/x", headers={**JSON, "X-Forwarded-For": "198.51.100.7"}).json()[
        "challenge"
    ]
    for chain in ("not-an-ip", "198.51.100.7, ", "unknown", "198.51.100.7,,10.0.0.9"):
        response = client.get("/paid/x", headers={**JSON, "X-Forwarded-For": chain})
        assert response.status_code == 400, chain
        assert response.json()["error"] == "unreadable_forwarding"
        # Nor can such a client solve someone's challenge under a shared identity.
        solve = client.post(
            challenge["url"],
            json={"answers": [source.issued[-1]]},
            headers={"X-Forwarded-For": chain},
        )
        assert solve.status_code == 400, chain


def test_too_many_headers_or_header_bytes_get_431_before_anything_is_counted() -> None:
    client, source = build(max_headers=12, max_header_bytes=600)
    _, count, size = client.get("/free").text.split()
    base_count, base_bytes = int(count), int(size)  # what the test client sends by itself
    extra = 12 - base_count  # header fields that reach the limit exactly
    fields = [(f"x-h{i}", "v") for i in range(extra)]
    assert client.get("/free", headers=fields).status_code == 200
    over = client.get("/free", headers=[*fields, ("x-one-more", "v")])
    assert over.status_code == 431
    assert over.headers["cache-control"] == "no-store"
    assert over.json() == {
        "error": "headers_too_large",
        "message": "Send at most 12 header fields.",
    }
    room = 600 - base_bytes - len("x-pad")  # value bytes that fill the byte limit exactly
    assert client.get("/free", headers={"x-pad": "a" * room}).status_code == 200
    big = client.get("/free", headers={"x-pad": "a" * (room + 1), "accept": "text/html"})
    assert big.status_code == 431
    assert "<h1>Headers too large</h1>" in big.text

    # A pass is not charged, nor a challenge attempt used, by a refused request.
    challenge = client.get("/paid/x", headers=JSON).json()["challenge"]
    padding = {"x-pad": "a" * 600}
    refused = client.post(challenge["url"], json={"answers": [source.issued[-1]]}, headers=padding)
    assert refused.status_code == 431
    assert client.get(challenge["url"], headers=JSON).json()["challenge"]["attempts"] == 5
    minted = client.post(challenge["url"], json={"answers": [source.issued[-1]]}).json()
    auth = {"Authorization": f"ReasoningGate {minted['pass']}"}
    client.cookies.clear()
    for _ in range(3):
        assert client.get("/paid/x", headers={**auth, **padding}).status_code == 431
    spent = [client.get("/paid/x", headers={**JSON, **auth}).status_code for _ in range(3)]
    assert spent == [200, 200, 401]  # the whole budget of 2 was still there


def test_header_limits_are_settings_with_defaults_no_browser_reaches() -> None:
    defaults = GateConfig.from_env({}).gate
    assert (defaults.max_headers, defaults.max_header_bytes) == (100, 32_768)
    tuned = GateConfig.from_env({"GATE_MAX_HEADERS": "40", "GATE_MAX_HEADER_BYTES": "8192"}).gate
    assert (tuned.max_headers, tuned.max_header_bytes) == (40, 8192)


async def test_the_default_header_limits_hold_over_a_real_server_and_spare_browsers() -> None:
    import httpx2

    from tests.support import on_loopback

    client, _ = build()  # the defaults: 100 fields, 32 768 bytes
    assert isinstance(client.app, GateMiddleware)
    browser = {  # a heavy browser request: the usual fields and 16 KiB of cookies
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "en-GB,en;q=0.9,de;q=0.8",
        "Cookie": "; ".join(f"c{i}={'v' * 500}" for i in range(32)),
        **{f"Sec-Fetch-{i}": "navigate" for i in range(20)},
    }
    async with on_loopback(client.app) as base, httpx2.AsyncClient(base_url=base) as http:
        assert (await http.get("/free", headers=browser)).status_code == 200
        many = [(f"x-h{i}", "v") for i in range(101)]
        refused = await http.get("/free", headers=many)
        assert refused.status_code == 431
        assert refused.json()["error"] == "headers_too_large"
        huge = {"Cookie": "; ".join(f"c{i}={'v' * 500}" for i in range(70))}  # ~35 KiB
        assert (await http.get("/free", headers=huge)).status_code == 431
