"""The ASGI middleware through Starlette's TestClient (in-process; the loopback test drives uvicorn)."""

from __future__ import annotations

import json
import re

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gate.errors import StoreError
from gate.gatekeeper import Gatekeeper, GateSettings
from gate.identity import parse_networks
from gate.keys import KeyRing
from gate.overrides import IdentityOverride, effective
from gate.passes import PassCodec
from gate.puzzle import ComposedPuzzle, PublicClue, PublicGate, PublicPuzzle, PuzzleSpec
from gate.rules import Action, Rule, RuleSet
from gate.store import MemoryStore
from gate.store.base import Store
from middleware import BUDGET_HEADER, GateMiddleware
from tests.support import FixedWordSource

PEER = ("203.0.113.5", 40000)
JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}
MARKDOWN = {"Accept": "text/markdown"}


async def echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "path": request.url.path,
            "authorization": request.headers.get("authorization"),
            "cookie": request.headers.get("cookie"),
        }
    )


def build(source=None, store: Store | None = None, trusted: tuple[str, ...] = (), **kwargs):
    source = source or FixedWordSource()
    rules = RuleSet([Rule("/paid/", price=600, budget=2), Rule("/closed/", action=Action.DENY)])
    settings = GateSettings(trusted_proxies=parse_networks(trusted))
    gk = Gatekeeper(
        store if store is not None else MemoryStore(),
        source,
        PassCodec(KeyRing.generate()),
        rules,
        settings,
    )
    app = Starlette(routes=[Route("/{path:path}", echo)])
    return TestClient(
        GateMiddleware(app, gk, **kwargs), client=PEER, follow_redirects=False
    ), source


def challenge_of(response) -> dict:
    assert response.status_code == 401, response.text
    return response.json()["challenge"]


def test_free_pages_pass_untouched() -> None:
    client, _ = build()
    response = client.get("/hello")
    assert response.status_code == 200 and BUDGET_HEADER not in response.headers


def test_programs_get_a_json_challenge_with_an_authenticate_header() -> None:
    client, source = build()
    response = client.get("/paid/x", headers=JSON)
    challenge = challenge_of(response)
    header = response.headers["www-authenticate"]
    assert header.startswith("ReasoningGate ")
    assert f'challenge="{challenge["url"]}"' in header and f'price="{challenge["price"]}"' in header
    assert challenge["url"] == f"/.gate/challenges/{challenge['id']}"
    assert source.issued[-1] not in response.text
    assert response.headers["cache-control"] == "no-store"


def test_browsers_get_an_accessible_form_that_needs_no_javascript() -> None:
    client, _ = build()
    response = client.get("/paid/x?page=2", headers=HTML)
    assert response.status_code == 401 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<script" not in html.lower()
    assert re.search(r'<label for="answer-1">', html) and 'id="answer-1"' in html
    assert 'method="post"' in html and 'name="next" value="/paid/x?page=2"' in html
    assert 'lang="en"' in html


def test_agents_asking_for_markdown_get_markdown() -> None:
    client, _ = build()
    response = client.get("/paid/x", headers=MARKDOWN)
    assert response.status_code == 401 and response.headers["content-type"].startswith(
        "text/markdown"
    )
    assert (
        "POST /.gate/challenges/" in response.text
        and "Authorization: ReasoningGate" in response.text
    )


def test_solving_returns_a_pass_that_pays_and_reports_the_remaining_budget() -> None:
    client, source = build()
    challenge = challenge_of(client.get("/paid/x", headers=JSON))
    solved = client.post(challenge["url"], json={"answers": [source.issued[-1]]})
    assert solved.status_code == 200
    body = solved.json()
    assert body["budget"] == 2 and body["scope"] == "http:/paid/"
    assert "rg_pass=" in solved.headers["set-cookie"] and "HttpOnly" in solved.headers["set-cookie"]
    client.cookies.clear()
    paid = client.get("/paid/x", headers={"Authorization": body["authorization"]})
    assert paid.status_code == 200 and paid.headers[BUDGET_HEADER] == "1"
    assert paid.json()["authorization"] is None  # the app never sees the gate's credential
    client.get("/paid/y", headers={"Authorization": body["authorization"]})
    again = client.get("/paid/z", headers={"Authorization": body["authorization"], **JSON})
    assert again.status_code == 401 and again.json()["reason"] == "exhausted"


def test_a_browser_solves_with_the_form_and_is_sent_back_with_a_cookie() -> None:
    client, source = build()
    challenge = challenge_of(client.get("/paid/x", headers=JSON))
    solved = client.post(
        challenge["url"], data={"answer": source.issued[-1], "next": "/paid/x?page=2"}, headers=HTML
    )
    assert solved.status_code == 303 and solved.headers["location"] == "/paid/x?page=2"
    assert client.cookies.get("rg_pass")
    page = client.get("/paid/x?page=2", headers=HTML)
    assert page.status_code == 200 and page.headers[BUDGET_HEADER] == "1"


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_redirects_after_solving_stay_on_the_site(target: str) -> None:
    client, source = build()
    challenge = challenge_of(client.get("/paid/x", headers=JSON))
    solved = client.post(
        challenge["url"], data={"answer": source.issued[-1], "next": target}, headers=HTML
    )
    assert solved.status_code == 303 and solved.headers["location"] == "/"


def test_a_wrong_answer_says_how_many_attempts_remain_and_shows_the_puzzle_again() -> None:
    client, source = build()
    challenge = challenge_of(client.get("/paid/x", headers=JSON))
    wrong = client.post(challenge["url"], json={"answers": ["nope"]})
    assert wrong.status_code == 400 and wrong.headers["x-attempts-left"] == "4"
    assert wrong.json()["challenge"]["attempts"] == 4
    assert source.issued[-1] not in wrong.text
    html = client.post(challenge["url"], data={"answer": "nope", "next": "/paid/x"}, headers=HTML)
    # People: POST-redirect-GET, so the page they see is a GET.
    assert html.status_code == 303 and html.headers["x-attempts-left"] == "3"
    assert html.headers["location"] == challenge["url"] + "?next=%2Fpaid%2Fx&note=wrong"
    form = client.get(html.headers["location"], headers=HTML)
    assert form.status_code == 200 and 'role="alert"' in form.text
    assert "3 attempt(s) left" in form.text and 'name="next" value="/paid/x"' in form.text


def test_reloading_the_page_after_a_wrong_answer_uses_no_attempt() -> None:
    client, _ = build()
    challenge = challenge_of(client.get("/paid/x", headers=JSON))
    wrong = client.post(challenge["url"], data={"answer": "nope"}, headers=HTML)
    for _ in range(3):  # a reload repeats the GET the browser was sent to, not the POST
        again = client.get(wrong.headers["location"], headers=HTML)
        assert again.status_code == 200 and "4 attempt(s) left" in again.text
    assert client.get(challenge["url"], headers=JSON).json()["challenge"]["attempts"] == 4
    # The note is a fixed sentence built from the record; nothing from the query is echoed.
    forged = client.get(challenge["url"] + "?note=%3Cb%3E1+attempt", headers=HTML)
    assert 'role="alert"' not in forged.text and "<b>" not in forged.text


def test_an_expired_puzzle_links_people_to_a_fresh_one() -> None:
    client, _ = build()
    gone = client.post(
        "/.gate/challenges/" + "A" * 22,
        data={"answer": "x", "next": "/paid/x?page=3"},
        headers=HTML,
    )
    assert gone.status_code == 410 and '<a href="/paid/x?page=3">Get a new puzzle</a>' in gone.text
    shown = client.get("/.gate/challenges/nope?next=/paid/y", headers=HTML)
    assert shown.status_code == 410 and '<a href="/paid/y">Get a new puzzle</a>' in shown.text
    offsite = client.get("/.gate/challenges/nope?next=//evil.example/", headers=HTML)
    assert '<a href="/">Get a new puzzle</a>' in offsite.text
    fresh = client.get("/paid/x?page=3", headers=HTML)
    assert fresh.status_code == 401 and "<form" in fresh.text


def _why(response) -> str:
    match = re.search(r'<p class="why">(.*?)</p>', response.text)
    assert match, response.text
    return match.group(1)


def test_a_person_is_told_in_one_sentence_why_the_puzzle_is_shown() -> None:
    clock = [1_000_000.0]
    source = FixedWordSource()
    rules = RuleSet([Rule("/paid/", price=600, budget=1, pass_ttl=60)])

    def now() -> float:
        return clock[0]

    gk = Gatekeeper(
        MemoryStore(), source, PassCodec(KeyRing.generate(), clock=now), rules, clock=now
    )
    app = Starlette(routes=[Route("/{path:path}", echo)])
    client = TestClient(GateMiddleware(app, gk), client=PEER, follow_redirects=False)
    first = client.get("/paid/x", headers=HTML)
    assert "no pass for this part of the site yet" in _why(first)

    def solve() -> None:
        challenge = challenge_of(client.get("/paid/x", headers=JSON))
        solved = client.post(challenge["url"], data={"answer": source.issued[-1]}, headers=HTML)
        assert solved.status_code == 303
        # The cookie outlives the pass by a day, so an expired pass still reaches the gate.
        assert "Max-Age=86460" in solved.headers["set-cookie"]

    solve()
    assert client.get("/paid/x", headers=HTML).status_code == 200
    spent = client.get("/paid/x", headers=HTML)
    assert spent.status_code == 401 and "opened all the pages it paid for" in _why(spent)
    solve()
    clock[0] += 61
    expired = client.get("/paid/x", headers=HTML)
    assert expired.status_code == 401 and "has expired" in _why(expired)
    shown_again = client.get(challenge_of(client.get("/paid/x", headers=JSON))["url"], headers=HTML)
    assert 'class="why"' not in shown_again.text  # asked for again: nothing to explain


def test_past_the_free_allowance_a_person_is_told_so() -> None:
    rules = RuleSet([Rule("/paid/", price=600, free_per_window=2)])
    gk = Gatekeeper(MemoryStore(), FixedWordSource(), PassCodec(KeyRing.generate()), rules)
    app = Starlette(routes=[Route("/{path:path}", echo)])
    client = TestClient(GateMiddleware(app, gk), client=PEER, follow_redirects=False)
    assert [client.get("/paid/x", headers=HTML).status_code for _ in range(2)] == [200, 200]
    third = client.get("/paid/x", headers=HTML)
    assert third.status_code == 401
    assert _why(third).startswith("You have opened more than 2 pages here in 60 seconds")


def test_an_unknown_challenge_is_gone() -> None:
    client, _ = build()
    assert client.post("/.gate/challenges/" + "A" * 22, json={"answers": ["x"]}).status_code == 410
    assert client.get("/.gate/challenges/nope").status_code == 410


def test_oversized_and_malformed_answers_are_refused_before_parsing() -> None:
    client, _ = build(max_body=1024)
    challenge = challenge_of(client.get("/paid/x", headers=JSON))
    big = client.post(
        challenge["url"],
        content=b"{" + b" " * 4096 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert big.status_code == 413
    for body in (
        b"not json",
        b"[]",
        b'{"answers": "word"}',
        b'{"answers": [1]}',
        b'{"answers": []}',
    ):
        response = client.post(
            challenge["url"], content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, body


def test_denied_paths_are_forbidden() -> None:
    client, _ = build()
    assert client.get("/closed/x").status_code == 403


def test_a_client_the_operator_blocked_is_told_so_on_free_and_paid_paths() -> None:
    client, _ = build()
    keeper = client.app.gatekeeper
    keeper.overrides = effective({"net:203.0.113.0/24": IdentityOverride(blocked=True)})
    for path in ("/free", "/paid/x"):
        response = client.get(path, headers=JSON)
        assert response.status_code == 403
        assert response.json()["error"] == "blocked"


class BrokenStore(MemoryStore):
    async def execute(self, ops):  # type: ignore[no-untyped-def]
        raise StoreError("down")


def test_the_gate_fails_closed_when_its_store_fails() -> None:
    client, _ = build(store=BrokenStore())
    response = client.get("/paid/x", headers=JSON)
    assert response.status_code == 503 and response.json()["error"] == "gate_unavailable"
    assert client.get("/hello").status_code == 200  # free paths need no store


def test_forwarding_headers_count_only_from_trusted_proxies() -> None:
    untrusted, source = build()
    challenge = challenge_of(untrusted.get("/paid/x", headers=JSON))
    token = untrusted.post(challenge["url"], json={"answers": [source.issued[-1]]}).json()[
        "authorization"
    ]
    untrusted.cookies.clear()
    # Claiming to be someone else through X-Forwarded-For changes nothing for an untrusted peer.
    spoofed = untrusted.get(
        "/paid/x", headers={"Authorization": token, "X-Forwarded-For": "198.51.100.7"}
    )
    assert spoofed.status_code == 200

    trusted, source = build(trusted=("203.0.113.0/24",))
    challenge = challenge_of(
        trusted.get("/paid/x", headers={**JSON, "X-Forwarded-For": "198.51.100.7"})
    )
    token = trusted.post(
        challenge["url"],
        json={"answers": [source.issued[-1]]},
        headers={"X-Forwarded-For": "198.51.100.7"},
    ).json()["authorization"]
    trusted.cookies.clear()
    moved = trusted.get(
        "/paid/x", headers={"Authorization": token, "X-Forwarded-For": "192.0.2.1", **JSON}
    )
    assert moved.status_code == 401 and moved.json()["reason"] == "not_applicable"


class HostileSource(FixedWordSource):
    async def compose(self, spec: PuzzleSpec) -> ComposedPuzzle:
        composed = await super().compose(spec)
        clue = PublicClue(1, "<b>Domain</b>", '<script>alert("x")</script> & "quotes"', 100)
        gates = tuple(PublicGate((clue,) * gate.length) for gate in composed.public.gates)
        return ComposedPuzzle(PublicPuzzle(gates, spec.tier), composed.words)


def test_everything_rendered_in_html_is_escaped() -> None:
    client, _ = build(source=HostileSource())
    html = client.get('/paid/"><script>x</script>', headers=HTML).text
    assert "<script" not in html and "&lt;script&gt;" in html and "<b>Domain</b>" not in html


def test_websockets_without_a_pass_are_refused() -> None:
    client, _ = build()
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/paid/ws"):
        pass
    assert closed.value.code == 1008


def test_json_challenge_bodies_are_valid_json_with_the_documented_fields() -> None:
    client, _ = build()
    challenge = challenge_of(client.get("/paid/x"))  # no Accept: programs get JSON
    assert set(challenge) >= {"id", "url", "price", "attempts", "expires_at", "puzzle", "submit"}
    json.dumps(challenge)


def test_the_app_never_sees_a_pass_even_on_free_paths() -> None:
    client, source = build()
    challenge = challenge_of(client.get("/paid/x", headers=JSON))
    token = client.post(challenge["url"], json={"answers": [source.issued[-1]]}).json()["pass"]
    client.cookies.clear()
    seen = client.get(
        "/free",
        headers={
            "Authorization": f"ReasoningGate {token}",
            "Cookie": f"theme=dark; rg_pass={token}",
        },
    )
    assert seen.json()["authorization"] is None


def test_gate_answers_are_never_cached_and_vary_by_accept() -> None:
    client, _ = build()
    for response in (
        client.get("/paid/x"),
        client.get("/closed/x"),
        client.get("/.gate/challenges/" + "A" * 22),
        client.put("/.gate/challenges/" + "A" * 22),
    ):
        assert response.headers["cache-control"] == "no-store", response.status_code
        assert response.headers["vary"] == "Accept"


def test_only_401_answers_carry_www_authenticate() -> None:
    client, _ = build()
    challenge = challenge_of(client.get("/paid/x", headers=JSON))
    again = client.get(challenge["url"], headers=JSON)
    assert again.status_code == 200 and "www-authenticate" not in again.headers
    assert "error" not in again.json()
    wrong = client.post(challenge["url"], json={"answers": ["nope"]})
    assert wrong.status_code == 400 and "www-authenticate" not in wrong.headers


def test_plain_text_clients_get_text_plain() -> None:
    client, _ = build()
    response = client.get("/paid/x", headers={"Accept": "text/plain"})
    assert response.headers["content-type"].startswith("text/plain")


def test_the_json_submit_template_has_one_placeholder_per_gate() -> None:
    client, _ = build()
    client.app.gatekeeper.rules = RuleSet([Rule("/paid/", price=300 * 30)])  # type: ignore[attr-defined]
    challenge = challenge_of(client.get("/paid/x", headers=JSON))
    assert len(challenge["submit"]["body"]["answers"]) == len(challenge["puzzle"]["gates"]) > 1


def test_the_pass_cookie_covers_the_rule_prefix_and_is_secure_behind_a_trusted_tls_proxy() -> None:
    trusted, source = build(trusted=("203.0.113.0/24",))
    challenge = challenge_of(trusted.get("/paid/x", headers=JSON))
    solved = trusted.post(
        challenge["url"],
        json={"answers": [source.issued[-1]]},
        headers={"X-Forwarded-Proto": "https"},
    )
    cookie = solved.headers["set-cookie"]
    assert "Path=/paid;" in cookie and "Secure" in cookie

    untrusted, source = build()
    challenge = challenge_of(untrusted.get("/paid/x", headers=JSON))
    solved = untrusted.post(
        challenge["url"],
        json={"answers": [source.issued[-1]]},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "Secure" not in solved.headers["set-cookie"]


def test_unsupported_bodies_and_bad_lengths_are_refused_clearly() -> None:
    client, _ = build()
    challenge = challenge_of(client.get("/paid/x", headers=JSON))
    multipart = client.post(challenge["url"], files={"answer": ("a.txt", b"word")})
    assert multipart.status_code == 415
    bad_length = client.post(
        challenge["url"],
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "x"},
    )
    assert bad_length.status_code in (400, 413)


def test_requests_inside_the_free_allowance_say_how_many_remain() -> None:
    source = FixedWordSource()
    rules = RuleSet([Rule("/paid/", price=600, free_per_window=3)])
    gk = Gatekeeper(MemoryStore(), source, PassCodec(KeyRing.generate()), rules)
    app = Starlette(routes=[Route("/{path:path}", echo)])
    client = TestClient(GateMiddleware(app, gk), client=PEER)
    remaining = [client.get("/paid/x").headers.get(BUDGET_HEADER) for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    assert client.get("/paid/x").status_code == 401


def test_a_pass_sent_as_a_cookie_pays_and_never_reaches_the_app() -> None:
    client, source = build()
    challenge = challenge_of(client.get("/paid/x", headers=JSON))
    client.post(challenge["url"], json={"answers": [source.issued[-1]]})
    client.cookies.set("theme", "dark")
    seen = client.get("/paid/x", headers=JSON)
    assert seen.status_code == 200 and seen.headers[BUDGET_HEADER] == "1"
    assert seen.json()["cookie"] == "theme=dark"
