"""The admin dashboard over HTTP (no browser): login, sessions, CSRF, lockout, headers, levers.

Real SQL (SQLite and PostgreSQL), the real store contract; the app is driven in-process through
httpx2's ASGI transport.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import insert

from admin.app import create_admin_app, mount_admin, state_changing_routes
from admin.ledgers import client_ledgers
from admin.sampler import series, take_sample
from admin.serve import create_user
from admin.settings import AdminSettings
from gate.clock import ManualClock
from gate.config import GateConfig
from gate.ledger import bump, enlist
from gate.revocation import revocation_key
from gate.store import MemoryStore
from middleware.demo import DEMO_RULES
from operator_state.overrides import list_overrides
from operator_state.users import authenticate
from puzzles.composer import SERVE_KEY
from puzzles.db import create_engine, session_factory
from puzzles.models import Clue, FactoryItem, FactoryJob
from serving.runtime import Runtime, open_runtime

BASE = "http://admin.test"
USER, PASSWORD = "operator", "correct horse battery"
PAGES = ["/", "/policy", "/clients", "/bank", "/pool", "/api/overview", "/api/series", "/api/jobs"]
SETTINGS = AdminSettings(lockout_failures=3, lockout_seconds=60.0, sample_interval=60.0)


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its production cost takes a noticeable fraction of a second per login."""
    from argon2 import PasswordHasher

    import operator_state.users

    monkeypatch.setattr(
        operator_state.users, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024)
    )


async def _open(url: str, state: Path, env: dict[str, str] | None = None) -> Runtime:
    config = GateConfig.from_env(
        env or {}, state_dir=state, database_url=url, db_auto_upgrade="always"
    )
    opened = await open_runtime(config, DEMO_RULES, seed=False, store=MemoryStore())
    await create_user(url, USER, PASSWORD)
    return opened


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """On SQLite only: for what does not depend on the database."""
    opened = await _open(f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}", tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def sql_runtime(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    """On SQLite and PostgreSQL: for the dashboard's queries."""
    opened = await _open(database_url, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


@asynccontextmanager
async def _client(runtime: Runtime) -> AsyncIterator[httpx2.AsyncClient]:
    dashboard = create_admin_app(runtime, SETTINGS)
    await dashboard.start()
    transport = httpx2.ASGITransport(app=dashboard)
    try:
        async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
            yield http
    finally:
        await dashboard.stop()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx2.AsyncClient]:
    async with _client(runtime) as http:
        yield http


@pytest.fixture
async def sql_client(sql_runtime: Runtime) -> AsyncIterator[httpx2.AsyncClient]:
    async with _client(sql_runtime) as http:
        yield http


def _token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "page has no CSRF field"
    return found.group(1)


async def _login(client: httpx2.AsyncClient, password: str = PASSWORD) -> httpx2.Response:
    form = await client.get("/login")
    return await client.post(
        "/login", data={"csrf": _token(form.text), "username": USER, "password": password}
    )


async def _logged_in(client: httpx2.AsyncClient) -> str:
    assert (await _login(client)).status_code == 303
    return _token((await client.get("/policy")).text)


async def test_nothing_but_the_login_page_answers_without_a_login(client) -> None:
    for path in PAGES:
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login", path
    assert (await client.get("/login")).status_code == 200


async def test_login_sets_a_strict_http_only_session_and_logout_ends_it(client) -> None:
    response = await _login(client)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith("rg_admin=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; auto turns it on over https
    assert (await client.get("/")).status_code == 200
    csrf = _token((await client.get("/")).text)
    assert (await client.post("/logout", data={"csrf": csrf})).status_code == 303
    assert (await client.get("/")).status_code == 303


async def test_a_login_without_the_forms_token_is_refused(client) -> None:
    await client.get("/login")
    refused = await client.post("/login", data={"username": USER, "password": PASSWORD})
    assert refused.status_code == 403
    assert (await client.get("/")).status_code == 303


async def test_every_state_changing_request_without_the_csrf_token_is_refused(client) -> None:
    csrf = await _logged_in(client)
    routes = state_changing_routes()
    assert {"/logout", "/policy", "/policy/price", "/policy/dry-run", "/clients/block"} <= set(
        routes
    )
    for path in routes:
        missing = await client.post(path, data={"identity": "net:192.0.2.0/24", "on": "1"})
        assert missing.status_code == 403, path
        forged = await client.post(path, data={"csrf": "forged-token-x" * 3, "identity": "x"})
        assert forged.status_code == 403, path
        cross_site = await client.post(
            path, data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
        )
        assert cross_site.status_code == 403, path
    # The header form, as fetch() sends it, is accepted.
    accepted = await client.post(
        "/clients/revoke", data={"identity": "net:192.0.2.0/24"}, headers={"X-CSRF-Token": csrf}
    )
    assert accepted.status_code == 303
    assert (await client.get("/")).status_code == 200  # still logged in


async def test_repeated_failures_lock_the_login_even_for_the_right_password(client) -> None:
    for _ in range(SETTINGS.lockout_failures):
        assert (await _login(client, "wrong password!")).status_code == 401
    locked = await _login(client)
    assert locked.status_code == 429 and "Too many failed logins" in locked.text
    assert (await client.get("/")).status_code == 303


async def test_sessions_and_lockout_fail_closed_when_the_store_errors(
    client, runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _logged_in(client)
    session_id = client.cookies["rg_admin"]
    client.cookies.clear()
    form = await client.get("/login")  # a login form's pre-session, beside the live session
    client.cookies.set("rg_admin", session_id)
    store = runtime.store
    real = store.execute
    down = ["admin:session:"]

    async def broken(ops):  # type: ignore[no-untyped-def]
        if any(getattr(op, "key", "").startswith(down[0]) for op in ops):
            raise ConnectionError("store down")
        return await real(ops)

    monkeypatch.setattr(store, "execute", broken)

    async def status(request) -> int:  # type: ignore[no-untyped-def]
        try:
            return (await request).status_code
        except ConnectionError:
            return 500

    # A live session cookie opens nothing while its record cannot be read...
    assert await status(client.get("/")) not in (200, 303)
    assert await status(client.get("/api/overview")) != 200
    # ...and the right password does not log in while the lockout cannot be checked.
    down[0] = "admin:fail:"
    login = client.post(
        "/login", data={"csrf": _token(form.text), "username": USER, "password": PASSWORD}
    )
    assert await status(login) not in (200, 303)


async def test_only_the_notice_a_write_sent_is_shown_not_a_links_own(client) -> None:
    csrf = await _logged_in(client)
    done = await client.post("/clients/revoke", data={"csrf": csrf, "identity": "net:192.0.2.0/24"})
    assert done.status_code == 303
    shown = await client.get(done.headers["location"])
    assert 'class="notice"' in shown.text and "Passes of net:192.0.2.0/24 revoked." in shown.text
    crafted = await client.get("/clients", params={"notice": "Session expired: see evil.example"})
    assert "evil.example" not in crafted.text
    forged = await client.get("/policy", params={"notice": "Call evil.example", "mac": "0" * 32})
    assert "evil.example" not in forged.text


async def test_pages_carry_a_strict_csp_and_are_never_cached_or_framed(client) -> None:
    await _logged_in(client)
    for path in ["/", "/policy", "/clients", "/bank", "/pool", "/login"]:
        response = await client.get(path, follow_redirects=True)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "<script>" not in response.text and " style=" not in response.text
    static = await client.get("/static/admin.js")
    assert static.status_code == 200 and static.headers.get("cache-control") != "no-store"


async def test_a_stored_policy_change_is_validated_and_audited(sql_client, sql_runtime) -> None:
    client, runtime = sql_client, sql_runtime
    csrf = await _logged_in(client)
    policy = await client.get("/policy")
    assert "articles" in policy.text  # the running rules, before anything is stored
    saved = await client.post(
        "/policy/price", data={"csrf": csrf, "rule": "articles", "price": "2222"}
    )
    assert saved.status_code == 303
    bad = await client.post(
        "/policy",
        data={"csrf": csrf, "text": "rules:\n  - name: x\n    action: challenge\n    price: -1\n"},
    )
    assert bad.status_code == 400 and "x" in bad.text and "price" in bad.text
    page = (await client.get("/policy")).text
    assert "2222" in page and "price of articles set to 2222" in page and USER in page
    preview = await client.post(
        "/policy/preview", data={"csrf": csrf, "path": "/articles/1", "address": "198.51.100.4"}
    )
    assert preview.status_code == 200 and "2222" in preview.text
    assert await runtime.store.hgetall("ledger-index") == {}  # the preview counted nothing


async def test_clients_show_ledgers_and_take_blocks_tiers_and_revocations(
    sql_client, sql_runtime
) -> None:
    client, runtime = sql_client, sql_runtime
    identity = "net:198.51.100.0/24"
    await runtime.store.execute(
        [enlist(identity), bump(identity, "issued"), bump(identity, "tokens_paid", 1500)]
    )
    csrf = await _logged_in(client)
    page = await client.get("/clients")
    assert identity in page.text and "1500" in page.text
    blocked = await client.post(
        "/clients/block", data={"csrf": csrf, "identity": identity, "blocked": "1"}
    )
    assert blocked.status_code == 303
    (override,) = await list_overrides(session_factory(runtime.engine))
    assert override.identity == identity and override.blocked and override.actor == USER
    await client.post("/clients/revoke", data={"csrf": csrf, "identity": identity})
    assert await runtime.store.get(revocation_key(identity)) is not None
    unknown_tier = await client.post(
        "/clients/tier", data={"csrf": csrf, "identity": identity, "tier": "gold"}
    )
    assert unknown_tier.status_code == 400
    assert "Unblock" in (await client.get("/clients")).text
    await client.post("/clients/block", data={"csrf": csrf, "identity": identity, "blocked": "0"})
    assert await list_overrides(session_factory(runtime.engine)) == []  # cleared


async def test_the_bank_page_shows_counts_clues_running_out_jobs_and_answers(
    sql_client, sql_runtime
) -> None:
    client, runtime = sql_client, sql_runtime
    async with runtime.engine.begin() as connection:
        for number, (answer, tier) in enumerate([("Mars", 1), ("Graph", 2), ("Venus", 2)]):
            await connection.execute(
                insert(Clue).values(
                    id=number + 1,
                    domain="Astronomy",
                    text=f"clue {number}",
                    text_key=f"clue {number}",
                    answer=answer,
                    initial=answer[0].lower(),
                    tier=tier,
                    source="test",
                    expected_tokens=300,
                )
            )
        await connection.execute(
            insert(FactoryJob).values(id=1, name="refill", kind="generate", params="{}")
        )
        await connection.execute(
            insert(FactoryItem),
            [
                {"job_id": 1, "position": 0, "status": "accepted"},
                {"job_id": 1, "position": 1, "status": "rejected"},
                {"job_id": 1, "position": 2, "status": "pending"},
                {"job_id": 1, "position": 3, "status": "pending"},
            ],
        )
    # A bank served more than once per clue (GATE_SERVE_LIMIT=500) has a running-out list.
    runtime.config = dataclasses.replace(runtime.config, serve_limit=500)
    limit = runtime.config.serve_limit
    await runtime.store.incr(SERVE_KEY.format(2), int(limit * 0.9), 3600.0)
    await _logged_in(client)
    page = (await client.get("/bank")).text
    near = page.split("Near the serve limit")[1].split("Generation jobs")[0]
    assert "clue 1" in near and "clue 0" not in near and str(int(limit * 0.9)) in near
    assert "refill" in page and 'value="2"' in page and "2/4" in page
    assert "Mars" in page and "Graph" in page  # answers: shown on this page only
    assert "Graph" not in near  # the running-out list shows clues, never their answers
    for path in PAGES:
        if path != "/bank":
            shown = (await client.get(path)).text
            assert not {"Mars", "Graph", "Venus"} & set(re.findall(r"\w+", shown)), path
    jobs = (await client.get("/api/jobs")).json()
    assert jobs[0]["name"] == "refill" and jobs[0]["percent"] == 50


def test_logins_are_managed_from_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gate.cli import app

    runner = CliRunner()
    url = f"sqlite+aiosqlite:///{tmp_path / 'state' / 'gate.db'}"
    create = ["admin", "create-user", "alice", "--database-url", url, "--password-stdin"]
    assert runner.invoke(app, create, input="a long enough password\n").exit_code == 0
    again = runner.invoke(app, create, input="another long password\n")
    assert again.exit_code == 1 and "exists" in again.output
    short = runner.invoke(app, [*create[:2], "bob", *create[3:]], input="short\n")
    assert short.exit_code == 1 and "12 characters" in short.output
    passwd = ["admin", "passwd", "alice", "--database-url", url, "--password-stdin"]
    assert runner.invoke(app, passwd, input="the new long password\n").exit_code == 0

    async def check(password: str) -> bool:
        engine = create_engine(url)
        try:
            return await authenticate(engine, "alice", password)
        finally:
            await engine.dispose()

    assert asyncio.run(check("the new long password"))
    assert not asyncio.run(check("a long enough password"))


async def test_the_polled_overview_rates_the_last_interval(sql_client, sql_runtime) -> None:
    await _logged_in(sql_client)
    store, clock = sql_runtime.store, ManualClock(time.time() + 100.0)  # after the app's own
    identity = "net:198.51.100.0/24"
    for served in (0, 6, 12):
        await store.execute([enlist(identity), bump(identity, "served", served or 1)])
        await take_sample(sql_runtime.engine, store, 10.0, clock)
        clock.advance(10.0)
    numbers = (await sql_client.get("/api/overview")).json()
    assert numbers["requests_per_minute"] == 72.0  # 12 served in the last 10 s
    assert numbers["totals"]["served"] == 19


async def test_samples_make_a_series_of_growth_per_interval(sql_runtime) -> None:
    runtime = sql_runtime
    clock = ManualClock(1_000.0)
    identity = "net:203.0.113.0/24"
    await runtime.store.execute([enlist(identity), bump(identity, "issued", 2)])
    assert await take_sample(runtime.engine, runtime.store, 10.0, clock) is not None
    assert await take_sample(runtime.engine, runtime.store, 10.0, clock) is None  # slot taken
    await runtime.store.execute([bump(identity, "issued", 3), bump(identity, "solved")])
    clock.advance(10.0)
    await take_sample(runtime.engine, runtime.store, 10.0, clock)
    (point,) = await series(runtime.engine, hours=24 * 365 * 100)
    assert point.values["issued"] == 3 and point.values["solved"] == 1
    (entry,) = await client_ledgers(runtime.store)
    assert entry.issued == 5


async def test_mounted_under_a_prefix_every_link_and_cookie_keeps_it(runtime) -> None:
    async def site(scope, receive, send):  # type: ignore[no-untyped-def]
        raise AssertionError("the dashboard's paths never reach the gated site")

    dashboard = create_admin_app(runtime, SETTINGS)
    await dashboard.start()
    try:
        app = mount_admin(site, dashboard, "/_gate/admin")
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
            bare = await http.get("/_gate/admin")
            assert bare.status_code == 308 and bare.headers["location"] == "/_gate/admin/"
            first = await http.get("/_gate/admin/")
            assert first.headers["location"] == "/_gate/admin/login"
            form = await http.get("/_gate/admin/login")
            assert 'action="/_gate/admin/login"' in form.text
            assert "/_gate/admin/static/admin.css" in form.text
            done = await http.post(
                "/_gate/admin/login",
                data={"csrf": _token(form.text), "username": USER, "password": PASSWORD},
            )
            assert done.headers["location"] == "/_gate/admin/"
            assert "Path=/_gate/admin/" in done.headers["set-cookie"]
            page = await http.get("/_gate/admin/clients")
            assert 'href="/_gate/admin/policy"' in page.text
    finally:
        await dashboard.stop()


async def test_behind_a_trusted_tls_proxy_the_https_origin_is_ours_and_cookies_are_secure(
    tmp_path: Path,
) -> None:
    proxied = {"X-Forwarded-Proto": "https", "Origin": "https://admin.test"}
    for trusted, expected in (("127.0.0.0/8", 303), ("", 403)):
        state = tmp_path / (trusted.replace("/", "_") or "none")
        state.mkdir()
        runtime = await _open(
            f"sqlite+aiosqlite:///{state / 'gate.db'}", state, {"GATE_TRUSTED_PROXIES": trusted}
        )
        try:
            async with _client(runtime) as client:
                form = await client.get("/login", headers=proxied)
                data = {"csrf": _token(form.text), "username": USER, "password": PASSWORD}
                # A Secure cookie is not sent back over this test's plain http: pass it by hand.
                pre = form.headers["set-cookie"].split(";")[0]
                client.cookies.clear()
                done = await client.post("/login", data=data, headers={**proxied, "Cookie": pre})
                assert done.status_code == expected, trusted
                if expected == 303:
                    assert "Secure" in done.headers["set-cookie"]
        finally:
            await runtime.close()


def test_gate_admin_serve_runs_the_dashboard_on_its_own_port(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    url = f"sqlite+aiosqlite:///{tmp_path / 'state' / 'gate.db'}"
    asyncio.run(create_user(url, USER, PASSWORD))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env["GATE_STATE_DIR"] = str(tmp_path / "state")
    args = [sys.executable, "-m", "gate.cli", "admin", "serve", "--port", str(port)]
    args += ["--database-url", url]
    with (tmp_path / "admin.log").open("w") as log:
        server = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}") as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    form = http.get("/login", timeout=1)
                    break
                except httpx2.TransportError:
                    assert server.poll() is None, (tmp_path / "admin.log").read_text()
                    assert time.monotonic() < deadline, "gate admin serve did not start"
                    time.sleep(0.2)
            assert "script-src 'self'" in form.headers["content-security-policy"]
            data = {"csrf": _token(form.text), "username": USER, "password": PASSWORD}
            assert http.post("/login", data=data).status_code == 303
            assert http.get("/bank").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=20)


async def test_oversized_forms_are_refused_before_parsing(client) -> None:
    csrf = await _logged_in(client)
    huge = await client.post("/policy", data={"csrf": csrf, "text": "#" * (2 << 20)})
    assert huge.status_code == 413


async def test_the_policy_page_warns_when_a_price_is_capped_for_people(client, runtime) -> None:
    csrf = await _logged_in(client)
    cap = runtime.config.gate.human_cap()

    def row(page: str) -> str:
        return page.split('data-rule="articles"')[1].split("</tr>")[0]

    assert "capped there" not in row((await client.get("/policy")).text)  # 1 500: fits
    await client.post("/policy/price", data={"csrf": csrf, "rule": "articles", "price": cap + 1})
    articles = row((await client.get("/policy")).text)
    assert f"People see at most {runtime.config.gate.human_max_clues} clues" in articles
    assert "GATE_HUMAN_MAX_CLUES" in articles


async def test_the_clients_page_lists_the_fastest_solvers_and_their_early_answers(
    client, runtime
) -> None:
    quick, slow = "net:203.0.113.0/24", "net:192.0.2.0/24"
    await runtime.store.execute(
        [
            enlist(quick),
            bump(quick, "solved", 2),
            bump(quick, "solve_ms", 12_000),
            bump(quick, "early", 3),
            enlist(slow),
            bump(slow, "solved", 1),
            bump(slow, "solve_ms", 95_000),
        ]
    )
    await _logged_in(client)
    page = (await client.get("/clients")).text
    fastest = page.split('id="fastest"')[1].split("</section>")[0]
    assert fastest.index(quick) < fastest.index(slow)
    assert '<td class="num">6.0</td><td class="num">3</td>' in fastest


async def test_the_overview_warns_below_the_bank_low_water_mark(client, runtime) -> None:
    from puzzles.draft import ClueDraft

    await runtime.bank.add_clues(
        ClueDraft("Testing", f"Synthetic question number {n}", f"Vorath{n}", 1 + n % 3, "t")
        for n in range(6)
    )
    await _logged_in(client)
    fresh = {1: 2, 2: 2, 3: 2}
    health = (await client.get("/")).text.split('id="bank-health"')[1].split("</table>")[0]
    for tier, n in fresh.items():
        assert f'<td class="num">{tier}</td><td class="num">{n}</td>' in health
    assert "not being served" in health
    runtime.config = dataclasses.replace(runtime.config, bank_low_water=2)
    assert 'id="bank-low"' not in (await client.get("/")).text  # at the mark: no warning
    runtime.config = dataclasses.replace(runtime.config, bank_low_water=3)
    page = (await client.get("/")).text
    banner = page.split('id="bank-low"')[1].split("</p>")[0]
    assert "running low" in banner and "GATE_BANK_LOW_WATER" in banner
    for tier, n in fresh.items():
        assert f"tier {tier} has {n} fresh clue" in banner


async def test_the_overview_shows_gate_failures_from_the_store(client, runtime) -> None:
    from gate.failures import FailureLog

    failures = FailureLog(logging.getLogger("test.overview"))
    for _ in range(3):
        await failures.record("GET /paid", LookupError("bank"), runtime.store)
    await _logged_in(client)
    shown = (await client.get("/")).text.split('id="failures"')[1].split("</table>")[0]
    assert '<td>LookupError</td><td class="num">3</td>' in shown


async def test_the_bank_page_shows_the_last_shortcut_exposure_report(
    sql_client, sql_runtime
) -> None:
    from admin.exposure import EXPOSURE_FILE

    client, runtime = sql_client, sql_runtime
    report = runtime.config.state_dir / EXPOSURE_FILE
    report.unlink(missing_ok=True)
    await _logged_in(client)

    def section(page: str) -> str:
        return page.split("Shortcut exposure")[1].split("By initial letter")[0]

    assert "Not measured yet" in section((await client.get("/bank")).text)

    # The shape bench/shortcut.py's exposure() writes.
    report.write_text(
        json.dumps(
            {
                "generated_at": "2026-12-03",
                "command": "bench/shortcut.py --quick",
                "sources": {
                    "graph": {"learner": {"clues": 400, "correct": 4, "correct_rate": 0.01}},
                    "builtin": {"template": {"clues": 50, "correct": 49, "correct_rate": 0.98}},
                    "<script>": {"replay": {"clues": 1, "correct": 0, "correct_rate": 0.0}},
                },
            }
        )
    )
    shown = section((await client.get("/bank")).text)
    assert "bench/shortcut.py --quick" in shown and "2026-12-03" in shown
    assert shown.index("builtin") < shown.index("graph")  # the most exposed source first
    assert "98.0 %" in shown and "1.0 %" in shown
    assert "<script>" not in shown and "&lt;script&gt;" in shown  # escaped

    report.write_text('{"sources": {"graph": {"learner": {"clues": 1, "correct": 5}}}}')
    damaged = section((await client.get("/bank")).text)
    assert "could not be read" in damaged and "out of range" in damaged
    report.unlink()
