"""The people's challenge page in a real headless Chromium: a reload after a wrong answer, a puzzle
that expires on the form, the sentence that says why the puzzle is shown, and a phone-width screen.

The gate runs under uvicorn on loopback with a clock the test moves forward (no sleeps): the store,
the pass codec and the gatekeeper all read it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gate.gatekeeper import Gatekeeper, GateSettings
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.rules import Rule, RuleSet
from gate.store import MemoryStore
from middleware import GateMiddleware
from tests.plugins.browser import ThreadedServers, axe_violations, page_width
from tests.support import FixedWordSource, on_loopback

TTL = 300  # the challenge lifetime (the product's default)


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def _page(request: Request) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Paid page</title>'
        f"</head><body><main><h1>Paid page {request.url.path}</h1></main></body></html>"
    )


def _servers(clock: Clock, source: FixedWordSource) -> Callable[..., Any]:
    async def main(info: dict[str, Any], ready: Callable[[], None], stop: asyncio.Event) -> None:
        gatekeeper = Gatekeeper(
            MemoryStore(clock=clock),
            source,
            PassCodec(KeyRing.generate(), clock=clock),
            RuleSet([Rule("/paid/", price=600, budget=1, pass_ttl=600)]),
            GateSettings(challenge_ttl=TTL),
            clock=clock,
        )
        site = Starlette(routes=[Route("/{path:path}", _page)])
        async with on_loopback(GateMiddleware(site, gatekeeper)) as base:
            info["base"] = base
            ready()
            await stop.wait()

    return main


@pytest.fixture(scope="module")
def site() -> Iterator[dict[str, Any]]:
    clock, source = Clock(), FixedWordSource(seed=19)
    servers = ThreadedServers(_servers(clock, source))
    info = servers.start()
    info.update(clock=clock, source=source)
    try:
        yield info
    finally:
        servers.close()


@pytest.fixture
def tab(site: dict[str, Any], chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1024, "height": 800})  # fresh cookies
    try:
        yield context.new_page()
    finally:
        context.close()


def _answer(tab: Any, word: str) -> None:
    tab.fill("#answer-1", word)
    tab.click("button[type=submit]")
    tab.wait_for_load_state()


def test_reloading_after_a_wrong_answer_shows_the_form_again_and_uses_no_attempt(
    tab: Any, site: dict[str, Any]
) -> None:
    tab.goto(site["base"] + "/paid/reload")
    assert "4 attempt" not in tab.content()
    _answer(tab, "wrongword")
    assert "note=wrong" in tab.url  # the browser was sent to a GET (POST-redirect-GET)
    assert (
        tab.locator("[role=alert]").inner_text()
        == "That is not the hidden word. 4 attempt(s) left."
    )
    for _ in range(2):
        tab.reload()
        assert "4 attempt(s) left" in tab.locator("[role=alert]").inner_text()
        assert "4 attempt(s) left" in tab.locator(".meta").inner_text()
    _answer(tab, site["source"].issued[-1])
    assert tab.url == site["base"] + "/paid/reload"
    assert tab.locator("h1").inner_text() == "Paid page /paid/reload"


def test_a_puzzle_that_expires_on_the_form_leads_to_a_fresh_one(
    tab: Any, site: dict[str, Any]
) -> None:
    tab.goto(site["base"] + "/paid/expiry?from=home")
    stale = site["source"].issued[-1]
    site["clock"].offset += TTL + 1  # the person took more than five minutes
    _answer(tab, stale)
    assert tab.locator("h1").inner_text() == "Puzzle expired"
    tab.click("text=Get a new puzzle")
    tab.wait_for_load_state()
    assert tab.url == site["base"] + "/paid/expiry?from=home"
    assert tab.locator("h1").inner_text() == "A puzzle stands before this page"
    fresh = site["source"].issued[-1]
    assert fresh != stale
    _answer(tab, fresh)
    assert tab.locator("h1").inner_text() == "Paid page /paid/expiry"


def test_a_person_challenged_again_is_told_why(tab: Any, site: dict[str, Any]) -> None:
    tab.goto(site["base"] + "/paid/why")
    assert "no pass for this part of the site yet" in tab.locator(".why").inner_text()
    _answer(tab, site["source"].issued[-1])
    tab.goto(site["base"] + "/paid/why-2")  # the budget of 1 page is spent
    assert "opened all the pages it paid for" in tab.locator(".why").inner_text()
    _answer(tab, site["source"].issued[-1])
    site["clock"].offset += 601  # past the pass's lifetime; the cookie is still sent
    tab.goto(site["base"] + "/paid/why-3")
    assert "has expired" in tab.locator(".why").inner_text()


def test_the_form_fits_a_phone_width_screen(site: dict[str, Any], chromium: Any) -> None:
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    try:
        tab = context.new_page()
        tab.goto(site["base"] + "/paid/phone")
        width = page_width(tab)
        assert width <= 360, f"the page scrolls sideways at 360 px ({width} px wide)"
        box = tab.locator("#answer-1").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    finally:
        context.close()


def test_the_challenge_pages_have_no_accessibility_violations(
    tab: Any, site: dict[str, Any]
) -> None:
    found = {}
    tab.goto(site["base"] + "/paid/axe")
    found["form"] = axe_violations(tab)
    _answer(tab, "wrongword")
    found["wrong answer"] = axe_violations(tab)
    tab.goto(site["base"] + "/.gate/challenges/unknown?next=/paid/axe")
    found["expired"] = axe_violations(tab)
    assert found == {page: [] for page in found}
