"""`gate proxy` in front of a real Tomcat: no spelling of a priced path reaches it for free.

Tomcat reads ``/articles;x/1.html``, ``/.;/articles/1.html`` and ``/x/..;/articles/1.html`` as the
priced ``/articles/1.html`` (the control below asks it directly).  Through the gate with the
default ``GATE_PATH_SEMANTICS=strict`` each such spelling is refused (400) or challenged (401)
before anything is charged; with ``tomcat`` declared the gate prices them as Tomcat reads them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest

from gate.config import GateConfig
from gate.puzzle import puzzle_from_dict
from gate.rules import Action, Rule, RuleSet
from middleware import BUDGET_HEADER
from middleware.proxy import proxy_app
from serving.runtime import Runtime, open_runtime
from tests.bank_solver import BankSolver
from tests.support import on_loopback, redis_store
from tests.tomcat import TomcatMissing, tomcat

PRICED = "PRICED ARTICLE"
RULES = RuleSet([Rule("/articles/", price=1_200, budget=3), Rule("/", action=Action.ALLOW)])
# Spellings Tomcat serves as /articles/1.html (checked against Tomcat itself below).
TOMCAT_READS_AS_PRICED = [
    "/articles;x/1.html",
    "/articles;/1.html",
    "/articles/1.html;jsessionid=0A1B",
    "/articles;v=2/1.html;x",
    "/.;/articles/1.html",
    "/x/..;/articles/1.html",
    "/articles/x/..;/1.html",
    "/%61rticles/1.html",
    "/articles//1.html",
]
# Spellings other upstreams (IIS, case-insensitive file systems) read as priced; Tomcat does not.
OTHER_UPSTREAMS = ["/ARTICLES/1.html", "/articles./1.html", "/articles%20/1.html"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    files = {"index.html": "home", "articles/1.html": PRICED}
    try:
        with tomcat(tmp_path_factory.mktemp("tomcat"), files) as base:
            yield base
    except TomcatMissing as exc:
        pytest.fail(str(exc))  # a missing upstream fails the run, never skips


@asynccontextmanager
async def gate_proxy(
    site: str, seeded_state: Path, redis_url: str, semantics: str
) -> AsyncIterator[tuple[str, Runtime]]:
    config = GateConfig.from_env({"GATE_PATH_SEMANTICS": semantics}, state_dir=seeded_state)
    async with redis_store(redis_url) as store:
        runtime = await open_runtime(config, RULES, store=store, seed=False)
        app = proxy_app(site, runtime.gatekeeper)
        try:
            async with on_loopback(app) as base:
                yield base, runtime
        finally:
            await app.app.aclose()  # type: ignore[attr-defined]
            await runtime.close()


async def raw_get(base: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET ``target`` byte for byte (HTTP clients would normalise it); status and body."""
    host, port = base.removeprefix("http://").split(":")
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    with anyio.fail_after(10):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = await reader.read()
        writer.close()
        await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode("utf-8", "replace")


async def test_tomcat_itself_reads_these_spellings_as_the_priced_page(site: str) -> None:
    for target in TOMCAT_READS_AS_PRICED:
        assert await raw_get(site, target) == (200, PRICED), target
    for target in OTHER_UPSTREAMS:
        assert (await raw_get(site, target))[0] == 404, target


async def test_strict_refuses_or_challenges_every_spelling_before_tomcat_sees_it(
    site: str, seeded_state: Path, redis_url: str
) -> None:
    async with gate_proxy(site, seeded_state, redis_url, "strict") as (base, _):
        assert await raw_get(base, "/index.html") == (200, "home")
        for target in [*TOMCAT_READS_AS_PRICED, *OTHER_UPSTREAMS, "/articles/1.html"]:
            status, body = await raw_get(base, target, {"Accept": "application/json"})
            assert status in (400, 401), (target, status)
            assert PRICED not in body, target


async def test_with_tomcat_declared_a_parameter_spelling_is_priced_and_paid_as_tomcat_reads_it(
    site: str, seeded_state: Path, redis_url: str
) -> None:
    async with gate_proxy(site, seeded_state, redis_url, "tomcat") as (base, runtime):
        status, body = await raw_get(base, "/articles;x/1.html", {"Accept": "application/json"})
        assert status == 401 and PRICED not in body  # priced like /articles/1.html, not refused
        async with httpx2.AsyncClient(base_url=base) as http:
            unpaid = await http.get("/articles/1.html", headers={"Accept": "application/json"})
            challenge = unpaid.json()["challenge"]
            solver = await BankSolver.load(runtime.engine)  # type: ignore[arg-type]
            answers = solver.solve(puzzle_from_dict(challenge["puzzle"]))
            solved = await http.post(challenge["url"], json={"answers": answers})
            authorization = solved.json()["authorization"]
        paid = {"Authorization": authorization}
        assert await raw_get(base, "/articles;x/1.html", paid) == (200, PRICED)
        async with httpx2.AsyncClient(base_url=base) as http:
            left = (await http.get("/articles/1.html", headers=paid)).headers[BUDGET_HEADER]
        assert left == "1"  # of 3: the parameter spelling was charged like the plain one
