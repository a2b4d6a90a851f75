"""``gate demo --walkthrough``: a program goes through the whole cycle against the demo site, with
the real requests and answers printed as they happen.

    free page -> 401 with a puzzle -> solve -> POST the hidden word -> pass -> spend its budget
    -> challenged again (reason="exhausted")

The demo site runs in this process on a free loopback port, on the same state directory (and so
the same clue bank) as ``gate demo``.  A real agent reasons through each clue with its language
model; this program cannot, so it looks each clue's answer up in the demo's own bank, which only
the operator has.  That is the one shortcut; every request goes over real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from sqlalchemy import select

from middleware.demo import DEMO_RULES, demo_app
from puzzles.bank import text_key
from puzzles.models import Clue
from serving.runner import serve
from serving.runtime import Runtime, open_runtime

JSON = {"Accept": "application/json"}
Say = Callable[[str], None]


@asynccontextmanager
async def _serving(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port through the one server runner; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound first: the port is known before the server starts
    port = sock.getsockname()[1]
    ready = asyncio.Event()
    task = asyncio.create_task(
        serve(app, "127.0.0.1", port, ready=ready.set, sockets=[sock], lifespan="off",
              log_level="warning")  # uvicorn's own lines would interleave with the walkthrough's
    )  # fmt: skip
    try:
        async with asyncio.timeout(20):
            while not ready.is_set():
                if task.done():
                    await task  # raises what stopped the server
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        task.cancel()  # the runner stops the server the graceful way
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


async def _answers(runtime: Runtime, clues: list[dict[str, Any]]) -> list[str]:
    """Each clue's answer, from the demo's own bank (the stand-in for a model's reasoning)."""
    found: list[str] = []
    async with runtime.engine.connect() as connection:  # type: ignore[attr-defined]
        for clue in clues:
            answer = await connection.scalar(
                select(Clue.answer).where(Clue.text_key == text_key(clue["text"])).limit(1)
            )
            found.append(str(answer))
    return found


def _show(say: Say, response: httpx2.Response, *headers: str) -> None:
    say(f"  -> {response.status_code} {response.reason_phrase}")
    for name in headers:
        if name in response.headers:
            say(f"     {name}: {response.headers[name]}")


async def walkthrough(config: Any, say: Say = print) -> int:
    """Run the cycle; returns the exit status (0 when every step answered as expected)."""
    runtime = await open_runtime(config, DEMO_RULES)
    try:
        async with (
            _serving(demo_app(runtime.gatekeeper)) as base,
            httpx2.AsyncClient(base_url=base, headers=JSON, timeout=30) as client,
        ):
            return await _cycle(client, base, runtime, say)
    finally:
        await runtime.close()


async def _cycle(client: httpx2.AsyncClient, base: str, runtime: Runtime, say: Say) -> int:
    say(f"Walkthrough against the demo site, started for it on {base}\n")
    say(f"1. A free page:  GET {base}/")
    _show(say, await client.get("/"))

    say(f"\n2. A priced page:  GET {base}/articles/1  (Accept: application/json)")
    unpaid = await client.get("/articles/1")
    _show(say, unpaid, "www-authenticate")
    if unpaid.status_code != 401:
        say("   expected 401 with a puzzle")
        return 1
    challenge = unpaid.json()["challenge"]
    gates = challenge["puzzle"]["gates"]
    say(f"   The puzzle: {len(gates)} hidden word(s), price {challenge['price']} solver tokens")

    say("\n3. Solve it: answer every clue; the answers' first letters spell the hidden word.")
    say("   (An agent's model reasons through each clue; this program looks the answers up in")
    say("   the demo's own clue bank, which only the site's operator has.)")
    words: list[str] = []
    for number, gate in enumerate(gates, 1):
        answers = await _answers(runtime, gate["clues"])
        for clue, answer in zip(gate["clues"], answers, strict=True):
            say(f"   [{clue['domain']}] {clue['text']}\n      -> {answer}")
        word = "".join(answer[0] for answer in answers).lower()
        say(f"   Hidden word {number}: {word}")
        words.append(word)
    wait = challenge["not_before"] - time.time()
    if wait > 0:
        say(
            f"   Waiting {wait:.0f} s: answers sooner than the puzzle's solve-time floor are not "
            "judged yet (429, no attempt used)."
        )
        await asyncio.sleep(wait + 0.2)

    body = json.dumps({"answers": words})
    say(f"\n4. POST {base}{challenge['url']}\n   {body}")
    solved = await client.post(challenge["url"], json={"answers": words})
    _show(say, solved)
    if solved.status_code != 200:
        say(f"   {solved.text}")
        return 1
    paid = solved.json()
    say(f"   pass: {paid['pass'][:28]}…  budget {paid['budget']}, scope {paid['scope']}")

    say(f"\n5. Spend it:  Authorization: {paid['authorization'][:40]}…")
    authorization = {"Authorization": paid["authorization"]}
    for page in range(1, paid["budget"] + 2):
        response = await client.get(f"/articles/{page}", headers=authorization)
        remaining = response.headers.get("gate-budget-remaining")
        if response.status_code == 200:
            say(f"   GET /articles/{page} -> 200, Gate-Budget-Remaining: {remaining}")
            continue
        say(f"   GET /articles/{page} -> {response.status_code}, the pass is used up:")
        say(f"     www-authenticate: {response.headers.get('www-authenticate')}")
        if response.status_code != 401 or response.json().get("reason") != "exhausted":
            return 1
        say("\nDone: challenged, solved, paid, spent, challenged again.")
        return 0
    say("   expected the pass to run out")
    return 1
