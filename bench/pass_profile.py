"""Where a valid pass's request goes: GateMiddleware and ForwardAuth called in-process (no server,
no sockets, the memory store), timed per request against the bare app, then under cProfile.

    python bench/pass_profile.py [--requests 20000] [--top 18] [--lease 16]

Prints µs per request for bare / middleware / forward auth and the functions that take the time
(own time, then cumulative).  The memory store isolates the gate's Python work from Redis's.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gate.gatekeeper import Gatekeeper, GateSettings  # noqa: E402
from gate.identity import parse_networks  # noqa: E402
from gate.keys import KeyRing  # noqa: E402
from gate.passes import PassCodec  # noqa: E402
from gate.rules import Rule, RuleSet  # noqa: E402
from gate.store import MemoryStore  # noqa: E402
from middleware.asgi import GateMiddleware  # noqa: E402
from middleware.authz import ForwardAuth  # noqa: E402
from tests.support import FixedWordSource, answers_for  # noqa: E402

PEER = ("127.0.0.1", 50000)


async def hello(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


async def call(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], method: str = "GET", body: bytes = b""
) -> tuple[int, dict[bytes, bytes], bytes]:
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"], out["headers"] = message["status"], dict(message["headers"])
        else:
            out["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": PEER,
        "server": ("127.0.0.1", 8081),
    }
    await app(scope, receive, send)
    return out["status"], out["headers"], out["body"]


async def setup(
    lease: int = 1,
) -> tuple[Any, Any, list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    source = FixedWordSource()
    gatekeeper = Gatekeeper(
        MemoryStore(),
        source,
        PassCodec(KeyRing.generate()),
        RuleSet([Rule("/", price=600, budget=10**9, pass_ttl=86_400)]),
        GateSettings(
            trusted_proxies=parse_networks(["127.0.0.1/32"]), decode_rate=1e12, pass_lease=lease
        ),
    )
    middleware = GateMiddleware(hello, gatekeeper)
    authz = ForwardAuth(gatekeeper)
    accept = [(b"accept", b"application/json"), (b"host", b"site.example")]
    status, _, body = await call(middleware, "/page", accept)
    assert status == 401, status
    url = json.loads(body)["challenge"]["url"]
    payload = json.dumps({"answers": list(answers_for(source, 1))}).encode()
    status, _, body = await call(
        middleware, url, [(b"content-type", b"application/json")], "POST", payload
    )
    assert status == 200, body
    auth = (b"authorization", f"ReasoningGate {json.loads(body)['pass']}".encode())
    direct = [*accept, auth]
    forwarded = [
        (b"x-forwarded-method", b"GET"),
        (b"x-forwarded-uri", b"/page"),
        (b"x-forwarded-host", b"site.example"),
        (b"x-forwarded-for", b"127.0.0.1"),
        *direct,
    ]
    return middleware, authz, direct, forwarded


async def timed(app: Any, path: str, headers: list[tuple[bytes, bytes]], n: int) -> float:
    for _ in range(200):  # warm caches
        await call(app, path, headers)
    start = time.perf_counter()
    for _ in range(n):
        status, _, _ = await call(app, path, headers)
    assert status == 200, status
    return (time.perf_counter() - start) / n * 1e6


async def main_async(requests: int, top: int, lease: int) -> None:
    middleware, authz, direct, forwarded = await setup(lease)
    bare = await timed(hello, "/page", direct, requests)
    gated = await timed(middleware, "/page", direct, requests)
    edge = await timed(authz, "/.gate/auth", forwarded, requests)
    print(f"bare app          {bare:7.1f} µs/request")
    print(f"GateMiddleware    {gated:7.1f} µs/request  (+{gated - bare:.1f})")
    print(f"ForwardAuth       {edge:7.1f} µs/request  (+{edge - bare:.1f})")
    for name, app, path, headers in (
        ("GateMiddleware", middleware, "/page", direct),
        ("ForwardAuth", authz, "/.gate/auth", forwarded),
    ):
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(requests // 4):
            await call(app, path, headers)
        profile.disable()
        for order in ("tottime", "cumulative"):
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats(order).print_stats(top)
            lines = [line for line in text.getvalue().splitlines() if line.strip()]
            print(f"\n== {name}: top {top} by {order} ({requests // 4} requests) ==")
            print("\n".join(lines[-(top + 1) :]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=18)
    parser.add_argument(
        "--lease", type=int, default=1, help="budget lease size (GATE_PASS_LEASE; 1: off)"
    )
    args = parser.parse_args()
    asyncio.run(main_async(args.requests, args.top, args.lease))


if __name__ == "__main__":
    main()
