"""Pytest plugin: a real headless Chromium (Debian's ``chromium`` driven by Playwright), and
servers that run on their own event loop in a background thread so sync Playwright can drive
them from the test's thread.

Chromium is required, like Redis and PostgreSQL: when it is missing the run fails with the
command that installs it (``make browser``), never skips.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Debian's chromium by default; GATE_TEST_CHROMIUM points elsewhere (another distribution's build).
CHROMIUM = Path(os.environ.get("GATE_TEST_CHROMIUM", "/usr/bin/chromium"))
# axe-core, the accessibility engine, from npm (tests/axe/package.json; `make browser` installs it).
AXE = Path(__file__).resolve().parents[1] / "axe" / "node_modules" / "axe-core" / "axe.min.js"

# Every rule axe has up to WCAG level AA, the experimental (label-content-name-mismatch is one) and
# best-practice ones too, at every impact; only the AAA rules (enhanced contrast) are left out.
_AXE_RUN = """async () => {
    const every = axe.getRules()
        .filter(rule => !rule.tags.some(tag => tag.endsWith("aaa")))
        .map(rule => rule.ruleId);
    const result = await axe.run(document, {
        runOnly: {type: "rule", values: every}, resultTypes: ["violations"]});
    return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => n.target.join(" "))}));
}"""


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations (every rule, every impact) on the page as it is now.  The page's
    context needs ``bypass_csp=True``: the engine is injected as a script the page's CSP (rightly)
    refuses."""
    if not AXE.exists():
        pytest.fail(
            f"the accessibility tests need axe-core at {AXE}: run `make browser`", pytrace=False
        )
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(_AXE_RUN)
    return violations


def wider_than(page: Any, width: int) -> list[str]:
    """The innermost elements that reach past ``width`` CSS pixels (what makes a page too wide)."""
    found: list[str] = page.evaluate(
        """(width) => [...document.querySelectorAll("body *")]
            .filter(e => e.getBoundingClientRect().right > width + 0.5
                && ![...e.children].some(c => c.getBoundingClientRect().right > width + 0.5)
                && ![...document.querySelectorAll("body *")].some(
                    o => o !== e && o.contains(e) && getComputedStyle(o).overflowX !== "visible"))
            .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
                + (e.className ? "." + e.className : "") + " " + Math.round(e.getBoundingClientRect().right))
            .slice(0, 10)""",
        width,
    )
    return found


def page_width(page: Any) -> int:
    """How wide the page's content is, in CSS pixels (wider than the viewport: it scrolls sideways)."""
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless browser per test module (pages and contexts are cheap, browsers are not).

    Not per session: while sync Playwright runs, its event loop counts as running in the test
    thread, so other modules' ``asyncio.run`` calls would fail.  Set up the fixtures that need
    ``asyncio.run`` (servers, seeded banks) before this one.
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Debian's chromium at {CHROMIUM}: run `make browser`",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


class ThreadedServers:
    """Runs ``main(info, ready, stop)`` on a fresh event loop in a daemon thread.

    ``main`` puts what tests need into ``info`` (a dict), calls ``ready()``, then awaits ``stop``;
    the thread ends when ``close`` sets it.  A failure before ready is raised in the test's thread.
    """

    def __init__(
        self, main: Callable[[dict[str, Any], Callable[[], None], asyncio.Event], Awaitable[None]]
    ) -> None:
        self._main = main
        self.info: dict[str, Any] = {}
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="test-servers", daemon=True)

    def _run(self) -> None:
        async def runner() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self._main(self.info, self._ready.set, self._stop)

        try:
            asyncio.run(runner())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
        finally:
            self._ready.set()

    def start(self, timeout: float = 60.0) -> dict[str, Any]:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("test servers did not start")
        if self._error is not None:
            raise RuntimeError("test servers failed to start") from self._error
        return self.info

    def call(self, coroutine: Awaitable[Any], timeout: float = 30.0) -> Any:
        """Run ``coroutine`` on the servers' loop and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self._error is not None:
            raise RuntimeError("test servers failed") from self._error
