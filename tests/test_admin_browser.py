"""The admin dashboard end to end in a real headless Chromium.

A gated demo site and the dashboard run under uvicorn on loopback, as two gate runtimes (two
replicas, in effect) sharing one SQL database and one Redis: what the operator changes in the
dashboard reaches the site through the stored policy and the overrides, as in production.
An agent (a plain HTTP client) is challenged and pays with ``tests.bank_solver``.

Every page is checked for console messages and page errors; screenshots go to a temporary
directory, or to ``GATE_TEST_SCREENSHOTS`` (the README's come from ``docs/screenshots``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from admin.app import create_admin_app, mount_admin, state_changing_routes
from admin.policy_text import starter_policy
from admin.serve import create_user
from admin.settings import AdminSettings
from gate.config import GateConfig
from gate.pricing import puzzle_spec
from gate.puzzle import puzzle_from_dict
from gate.rules import RuleSet
from gate.store import RedisStore
from middleware.demo import DEMO_RULES, demo_app
from operator_state.policy_store import save_policy
from puzzles.db import session_factory
from puzzles.llm.snapshot import publish_snapshot
from serving.runtime import open_runtime
from tests.bank_solver import BankSolver
from tests.plugins.browser import ThreadedServers, axe_violations, page_width, wider_than
from tests.support import delete_keys, key_prefix, on_loopback

USER, PASSWORD = "operator", "correct horse battery"
PREFIX = "/_gate/admin"
AGENT = "net:127.0.0.0/24"  # the identity of every loopback client
JSON = {"Accept": "application/json"}
DEADLINE = 20.0  # seconds to wait for a replica to pick up a change (it polls every 0.2 s)


async def _not_found(scope: Any, receive: Any, send: Any) -> None:
    from starlette.responses import PlainTextResponse

    await PlainTextResponse("not found", status_code=404)(scope, receive, send)


def _servers(state: Path, redis_url: str) -> Callable[..., Any]:
    async def main(info: dict[str, Any], ready: Callable[[], None], stop: asyncio.Event) -> None:
        prefix = key_prefix("admin-e2e")
        url = f"sqlite+aiosqlite:///{state / 'gate.db'}"
        # A flat rate curve: the agent's polling must not raise its own prices mid-test.
        env = {
            "GATE_POLICY_POLL": "0.2",
            "GATE_OVERRIDES_POLL": "0.2",
            "GATE_RATE_CURVE": "0:1,1000000:1",
        }
        config = GateConfig.from_env(env, state_dir=state, database_url=url)
        site_runtime = await open_runtime(
            config, DEMO_RULES, seed=False, store=RedisStore.from_url(redis_url, prefix=prefix)
        )
        admin_runtime = await open_runtime(
            config, RuleSet([]), seed=False, store=RedisStore.from_url(redis_url, prefix=prefix)
        )
        dashboard = create_admin_app(admin_runtime, AdminSettings(sample_interval=0.5))
        try:
            await dashboard.start()
            await create_user(url, USER, PASSWORD)
            # The operator's first stored policy: the demo's rules, with names to edit them by.
            await save_policy(
                session_factory(admin_runtime.engine),
                starter_policy(DEMO_RULES) + "tiers:\n  partner: {discount: 0.5}\n",
                "setup",
            )
            await publish_snapshot(admin_runtime.store, _POOL_SNAPSHOT | {"at": time.time()})
            solver = await BankSolver.load(site_runtime.engine)  # type: ignore[arg-type]
            async with (
                on_loopback(demo_app(site_runtime.gatekeeper)) as site,
                on_loopback(mount_admin(_not_found, dashboard, PREFIX)) as admin_base,
            ):
                info.update(site=site, admin=admin_base + PREFIX, solver=solver)
                ready()
                await stop.wait()
        finally:
            await dashboard.stop()
            await site_runtime.close()
            await admin_runtime.close()
            await delete_keys(redis_url, prefix)

    return main


# An illustrative pool state for the pool page (the pool helper's snapshot shape).
_POOL_SNAPSHOT: dict[str, Any] = {
    "name": "factory",
    "jain": 0.987,
    "backends": [
        {
            "name": "gpu-0",
            "url": "http://10.0.0.5:8001/v1",
            "kind": "gate-worker",
            "healthy": True,
            "in_flight": 6,
            "cap": 8,
            "queue": {
                "model": "gate-worker",
                "running": 6,
                "waiting": 3,
                "max_batch": 32,
                "kv_blocks_free": 410,
                "kv_blocks_total": 1024,
                "tenants": {},
            },
        },
        {
            "name": "llama-cpp",
            "url": "http://10.0.0.9:8080/v1",
            "kind": "openai",
            "healthy": False,
            "in_flight": 0,
            "cap": 1,
            "queue": None,
        },
    ],
    "flows": [
        {
            "tenant": "site-a",
            "job_class": "interactive",
            "weight": 4.0,
            "queued": 0,
            "in_flight": 1,
            "service": 5120.0,
            "prompt_tokens": 3100,
            "output_tokens": 1010,
            "wait_p50_s": 0.04,
            "wait_max_s": 0.31,
        },
        {
            "tenant": "site-a",
            "job_class": "batch",
            "weight": 1.0,
            "queued": 37,
            "in_flight": 4,
            "service": 48210.0,
            "prompt_tokens": 30100,
            "output_tokens": 9022,
            "wait_p50_s": 1.8,
            "wait_max_s": 6.2,
        },
        {
            "tenant": "site-b",
            "job_class": "batch",
            "weight": 1.0,
            "queued": 12,
            "in_flight": 1,
            "service": 47730.0,
            "prompt_tokens": 29800,
            "output_tokens": 8986,
            "wait_p50_s": 2.1,
            "wait_max_s": 7.0,
        },
    ],
}


@pytest.fixture(scope="module")
def live(
    seeded_state: Path, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    # A copy of the seeded bank: the policies stored here must not reach other tests' runtimes.
    state = tmp_path_factory.mktemp("admin-e2e")
    for item in seeded_state.glob("gate.db*"):
        shutil.copy(item, state / item.name)
    servers = ThreadedServers(_servers(state, redis_url))
    info = servers.start()
    try:
        yield info
    finally:
        servers.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get("GATE_TEST_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Console:
    """Console messages of level error or warning, and uncaught page errors."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def message(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text} ({message.location})")

    def error(self, error: Any) -> None:
        self.problems.append(f"page error: {error}")


@pytest.fixture(scope="module")
def console() -> Console:
    return Console()


@pytest.fixture(scope="module")
def page(live: dict[str, Any], console: Console, chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    tab.on("console", console.message)
    tab.on("pageerror", console.error)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(autouse=True)
def no_console_problems(console: Console) -> Iterator[None]:
    yield
    problems, console.problems[:] = list(console.problems), []
    assert problems == [], problems


@pytest.fixture(scope="module")
def agent(live: dict[str, Any]) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=live["site"], headers=JSON) as client:
        yield client


def _until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until it holds; fail after ``DEADLINE`` (replicas apply changes by polling)."""
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.1)


def _clue_count(response: httpx2.Response) -> int:
    puzzle = puzzle_from_dict(response.json()["challenge"]["puzzle"])
    return sum(len(gate.clues) for gate in puzzle.gates)


def test_the_dashboard_asks_for_a_login_and_logs_in(
    page: Any, live: dict[str, Any], shots: Path
) -> None:
    page.goto(live["admin"] + "/")
    assert page.url == live["admin"] + "/login"
    page.screenshot(path=shots / "login.png")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live["admin"] + "/")
    assert page.locator("h1").inner_text() == "Overview"


def test_the_overview_counters_follow_the_traffic_live(
    page: Any, live: dict[str, Any], agent: httpx2.Client
) -> None:
    page.goto(live["admin"] + "/")
    issued = page.locator('#totals [data-field="issued"]')
    before = int(issued.inner_text())
    assert agent.get("/articles/1").status_code == 401
    # The page's script polls api/overview; no reload happens here.
    page.wait_for_function(
        "([node, count]) => parseInt(node.textContent, 10) > count",
        arg=[issued.element_handle(), before],
        timeout=DEADLINE * 1000,
    )


def test_a_price_change_in_the_dashboard_reaches_the_next_challenge(
    page: Any, live: dict[str, Any], agent: httpx2.Client
) -> None:
    before = agent.get("/articles/1")
    assert before.status_code == 401
    tier = puzzle_from_dict(before.json()["challenge"]["puzzle"]).tier
    assert _clue_count(before) == _clues(1_500, tier)

    page.goto(live["admin"] + "/policy")
    row = page.locator("tr[data-rule=articles]")
    row.locator("input[name=price]").fill("3000")
    row.locator("button[type=submit]").first.click()
    page.wait_for_load_state()
    assert "articles: price 3000" in page.locator(".notice").inner_text()
    assert "price of articles set to 3000" in page.locator("body").inner_text()

    _until(
        lambda: _clue_count(agent.get("/articles/1")) == _clues(3_000, tier),
        "the site's next challenge is priced at 3000",
    )


def test_the_preview_prices_a_request_under_the_draft_without_saving_it(
    page: Any, live: dict[str, Any]
) -> None:
    page.goto(live["admin"] + "/policy")
    version = page.locator("#policy-version").inner_text()
    page.fill("#pv-path", "/articles/9")
    page.fill("#pv-address", "198.51.100.9")
    page.click("#preview-button")
    page.wait_for_load_state()
    result = page.locator("#preview-result").inner_text()
    assert "challenge at 3000 expected solver tokens" in result and "articles" in result
    draft = page.locator("#policy-text").input_value().replace("price: 3000", "price: 4500", 1)
    page.fill("#policy-text", draft)
    page.click("#preview-button")
    page.wait_for_load_state()
    # 4500 is 15 clues of tier 2, which compose as two words of 8: the client is asked 4800.
    assert (
        "challenge at 4800 expected solver tokens (the price 4500"
        in page.locator("#preview-result").inner_text()
    )
    assert page.locator("#policy-version").inner_text() == version  # nothing was saved
    # The preview shows what the client is asked: whole clues (2000 at tier 2 is 7 x 300).
    draft = page.locator("#policy-text").input_value().replace("price: 4500", "price: 2000", 1)
    page.fill("#policy-text", draft)
    page.click("#preview-button")
    page.wait_for_load_state()
    result = page.locator("#preview-result").inner_text()
    assert "challenge at 2100 expected solver tokens (the price 2000, rounded up" in result
    assert "so the client is asked 2100" in result
    assert page.locator("#policy-version").inner_text() == version


def test_enter_in_a_field_submits_that_fields_section(page: Any, live: dict[str, Any]) -> None:
    page.goto(live["admin"] + "/policy")
    version = int(page.locator("#policy-version").inner_text())
    page.fill("#pv-path", "/articles/3")
    page.press("#pv-path", "Enter")  # Enter in a preview field previews
    page.wait_for_load_state()
    assert page.locator("#preview-result").count() == 1
    assert int(page.locator("#policy-version").inner_text()) == version
    page.fill("#policy-note", "saved with Enter")
    page.press("#policy-note", "Enter")  # Enter in the audit note saves, as its button does
    page.wait_for_load_state()
    assert int(page.locator("#policy-version").inner_text()) == version + 1
    assert "saved with Enter" in page.locator("body").inner_text()
    assert page.locator("#preview-result").count() == 0


PAGES = [
    ("overview", "/"),
    ("policy", "/policy"),
    ("clients", "/clients"),
    ("bank", "/bank"),
    ("pool", "/pool"),
]


def _logged_in_context(chromium: Any, page: Any, **options: Any) -> Any:
    context = chromium.new_context(**options)
    context.add_cookies(page.context.cookies())  # the module's login session
    return context


def test_every_page_works_at_phone_width(
    chromium: Any, page: Any, live: dict[str, Any], shots: Path
) -> None:
    context = _logged_in_context(chromium, page, viewport={"width": 360, "height": 740})
    try:
        narrow = context.new_page()
        for name, path in PAGES:
            narrow.goto(live["admin"] + path)
            assert narrow.url == live["admin"] + path  # still logged in
            width = page_width(narrow)
            assert width <= 360, (
                f"{path} scrolls sideways at 360 px ({width} px wide): {wider_than(narrow, 360)}"
            )
            for link in narrow.locator("header.top nav a").all():
                box = link.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, (
                    path,
                    link.inner_text(),
                    box,
                )
            narrow.screenshot(path=shots / f"phone-{name}.png", full_page=True)
    finally:
        context.close()


def test_chart_series_differ_in_more_than_colour(page: Any, live: dict[str, Any]) -> None:
    page.goto(live["admin"] + "/")
    keys = page.locator("figcaption .key").all()
    assert len(keys) >= 2
    styles = {
        tuple(
            page.evaluate(
                "(node) => { const s = getComputedStyle(node, '::before');"
                " return [s.borderTopStyle, s.borderTopColor]; }",
                key.element_handle(),
            )
        )
        for key in keys[:3]
    }
    patterns, colours = {style[0] for style in styles}, {style[1] for style in styles}
    assert len(patterns) == len(styles) == len(colours)  # each series: its own dash and colour
    # Okabe-Ito blue, orange and reddish purple: no red-green pair.
    assert colours <= {"rgb(0, 114, 178)", "rgb(230, 159, 0)", "rgb(204, 121, 167)"}, colours


def test_every_page_has_no_accessibility_violations(
    chromium: Any, page: Any, live: dict[str, Any]
) -> None:
    context = _logged_in_context(chromium, page, bypass_csp=True)
    try:
        tab = context.new_page()
        found = {}
        for _, path in PAGES:
            tab.goto(live["admin"] + path)
            found[path] = axe_violations(tab)
        login = chromium.new_context(bypass_csp=True)
        try:
            outside = login.new_page()
            outside.goto(live["admin"] + "/login")
            found["/login"] = axe_violations(outside)
        finally:
            login.close()
        assert found == {path: [] for path in found}
    finally:
        context.close()


def _clues(price: int, tier: int) -> int:
    spec = puzzle_spec(price, tier)
    return spec.gates * spec.length


def test_solving_a_challenge_moves_the_clients_ledger(
    page: Any, live: dict[str, Any], agent: httpx2.Client
) -> None:
    def ledger() -> tuple[int, int]:
        page.goto(live["admin"] + f"/clients?identity={AGENT}")
        row = page.locator(f'tr[data-identity="{AGENT}"]')
        return (
            int(row.locator("[data-field=solved]").inner_text()),
            int(row.locator("[data-field=tokens_paid]").inner_text()),
        )

    solved, paid = ledger()
    unpaid = agent.get("/articles/7")
    challenge = unpaid.json()["challenge"]
    answers = live["solver"].solve(puzzle_from_dict(challenge["puzzle"]))
    result = agent.post(challenge["url"], json={"answers": answers})
    assert result.status_code == 200, result.text
    assert ledger() == (solved + 1, paid + challenge["price"])


def test_dry_run_toggles_from_the_dashboard(
    page: Any, live: dict[str, Any], agent: httpx2.Client
) -> None:
    page.goto(live["admin"] + "/policy")
    assert page.locator("#dry-run-state").inner_text() == "Dry run is off"
    page.click("#dry-run-toggle")
    page.wait_for_load_state()
    assert page.locator("#dry-run-state").inner_text() == "Dry run is on"
    _until(lambda: agent.get("/articles/2").status_code == 200, "dry run lets the agent through")

    page.click("#dry-run-toggle")
    page.wait_for_load_state()
    assert page.locator("#dry-run-state").inner_text() == "Dry run is off"
    _until(lambda: agent.get("/articles/2").status_code == 401, "the gate enforces again")


def test_blocking_a_client_reaches_the_site_and_unblocking_restores_it(
    page: Any, live: dict[str, Any], agent: httpx2.Client
) -> None:
    page.goto(live["admin"] + f"/clients?identity={AGENT}")
    page.locator(f'tr[data-identity="{AGENT}"] button:has-text("Block")').click()
    page.wait_for_load_state()
    _until(lambda: agent.get("/articles/3").status_code == 403, "the blocked client is refused")
    page.locator(f'tr[data-identity="{AGENT}"] button:has-text("Unblock")').click()
    page.wait_for_load_state()
    _until(lambda: agent.get("/articles/3").status_code == 401, "the client is priced again")


def test_a_tier_assigned_in_the_dashboard_discounts_the_next_challenge(
    page: Any, live: dict[str, Any], agent: httpx2.Client
) -> None:
    first = agent.get("/articles/4")
    tier = puzzle_from_dict(first.json()["challenge"]["puzzle"]).tier
    full = _clue_count(first)
    page.goto(live["admin"] + f"/clients?identity={AGENT}")
    row = page.locator(f'tr[data-identity="{AGENT}"]')
    row.locator("select[name=tier]").select_option("partner")
    row.locator('button:has-text("Assign")').click()
    page.wait_for_load_state()
    assert "tier partner" in page.locator(".notice").inner_text()
    _until(
        lambda: _clue_count(agent.get("/articles/4")) == _clues(1_500, tier) < full,
        "the partner tier halves the price",
    )
    row = page.locator(f'tr[data-identity="{AGENT}"]')
    row.locator("select[name=tier]").select_option("")
    row.locator('button:has-text("Assign")').click()
    page.wait_for_load_state()
    _until(lambda: _clue_count(agent.get("/articles/4")) == full, "the full price again")


def test_writes_without_the_csrf_token_are_refused_in_the_browser(
    page: Any, live: dict[str, Any]
) -> None:
    # page.request shares the logged-in context's cookies: only the token is missing.
    for path in state_changing_routes():
        response = page.request.post(
            live["admin"] + path, form={"identity": AGENT, "rule": "articles", "price": "1"}
        )
        assert response.status == 403, path
    page.goto(live["admin"] + "/policy")
    assert "articles" in page.locator("table.rules").inner_text()  # nothing changed, still in


def test_every_page_renders_without_console_errors(
    page: Any, live: dict[str, Any], shots: Path
) -> None:
    for name, path in [
        ("overview", "/"),
        ("policy", "/policy"),
        ("clients", "/clients"),
        ("bank", "/bank"),
        ("pool", "/pool"),
    ]:
        response = page.goto(live["admin"] + path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("load")
        assert page.locator("h1").count() == 1
        page.screenshot(path=shots / f"{name}.png", full_page=True)
