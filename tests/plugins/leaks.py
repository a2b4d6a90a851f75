"""Suite-wide leak scan: no hidden word ever appears in a response body, header or log line.

Every ``ChallengeService`` built during the run has its puzzle source wrapped so the hidden words it
issues are remembered; every ``GateMiddleware`` and ``ToolGate`` records what it answers; a root log
handler records every log line.  When the session ends the scan runs, and a hit fails the run.

Hidden words in tests are consonant strings (see ``tests.support``), which never occur as words in
templates or messages, so the scan matches whole tokens without false positives.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from gate.challenges import ChallengeService
from gate.puzzle import ComposedPuzzle, PuzzleSource, PuzzleSpec
from mcp_server.toolgate import ToolGate
from middleware.asgi import GateMiddleware


class LeakLedger:
    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.haystacks: list[tuple[str, str]] = []  # (where, text)

    def scan(self) -> list[str]:
        if not self.secrets:
            return []
        pattern = re.compile(
            r"(?<![a-z])(" + "|".join(sorted(map(re.escape, self.secrets))) + r")(?![a-z])",
            re.IGNORECASE,
        )
        hits = []
        for where, text in self.haystacks:
            match = pattern.search(text)
            if match:
                hits.append(f"{where}: ...{text[max(0, match.start() - 60) : match.end() + 60]}...")
        return hits


class _RecordingSource:
    def __init__(self, inner: PuzzleSource, ledger: LeakLedger) -> None:
        self.inner = inner
        self.ledger = ledger

    async def compose(self, spec: PuzzleSpec) -> ComposedPuzzle:
        composed = await self.inner.compose(spec)
        self.ledger.secrets.update(word.lower() for word in composed.words)
        return composed

    def __getattr__(self, name: str) -> object:  # the source's other faces (price_basis, ...)
        return getattr(self.inner, name)


class _LogRecorder(logging.Handler):
    def __init__(self, ledger: LeakLedger) -> None:
        super().__init__(logging.DEBUG)
        self.ledger = ledger

    def emit(self, record: logging.LogRecord) -> None:
        self.ledger.haystacks.append(("log", self.format(record)))


LEDGER = LeakLedger()


@pytest.fixture(scope="session", autouse=True)
def leak_scan() -> Iterator[LeakLedger]:
    original_init = ChallengeService.__init__
    original_call = GateMiddleware.__call__
    original_tool_middleware = ToolGate.middleware

    def init(self, store, source, passes, **kwargs):  # type: ignore[no-untyped-def]
        original_init(self, store, _RecordingSource(source, LEDGER), passes, **kwargs)

    async def call(self, scope, receive, send):  # type: ignore[no-untyped-def]
        async def recording_send(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                headers = "\n".join(
                    f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in message["headers"]
                )
                LEDGER.haystacks.append((f"headers {scope.get('path')}", headers))
            elif message["type"] == "http.response.body":
                LEDGER.haystacks.append(
                    (
                        f"body {scope.get('path')}",
                        message.get("body", b"").decode("utf-8", "replace"),
                    )
                )
            await send(message)

        await original_call(self, scope, receive, recording_send)

    async def tool_middleware(self, ctx, call_next):  # type: ignore[no-untyped-def]
        result = await original_tool_middleware(self, ctx, call_next)
        dumped = result.model_dump_json() if hasattr(result, "model_dump_json") else repr(result)
        LEDGER.haystacks.append((f"mcp {ctx.method}", dumped))
        return result

    handler = _LogRecorder(LEDGER)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # Seeding logs the word list itself (public data that ships in the repo), not a served answer.
    quiet = {name: logging.getLogger(name).level for name in ("sqlalchemy", "aiosqlite", "asyncpg")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    ChallengeService.__init__ = init  # type: ignore[method-assign]
    GateMiddleware.__call__ = call  # type: ignore[method-assign]
    ToolGate.middleware = tool_middleware  # type: ignore[method-assign]
    try:
        yield LEDGER
    finally:
        ChallengeService.__init__ = original_init  # type: ignore[method-assign]
        GateMiddleware.__call__ = original_call  # type: ignore[method-assign]
        ToolGate.middleware = original_tool_middleware  # type: ignore[method-assign]
        root.removeHandler(handler)
        root.setLevel(previous_level)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
    hits = LEDGER.scan()
    assert not hits, "expected answers leaked:\n" + "\n".join(hits[:20])
