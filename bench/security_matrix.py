"""The security matrix of docs/security.md: each attack class run many times, with its figure.

    python bench/security_matrix.py [--rounds 100] [--redis-url redis://127.0.0.1:6379/14] [--quick]

Classes (every figure printed is a count; "held" means the bad count is 0):

- concurrent solves: ``--rounds`` rounds of 200 correct answers racing for one challenge, spread
  over 4 replicas (a RedisStore and connection pool each) on one Redis; passes minted per round.
- path spellings: a corpus of spellings of priced and free paths (case, ';' parameters, trailing
  dots and spaces, '::$DATA', full-width letters, 8.3 short names, dot segments, and pairs of
  these) decided by a strict gate, and read by five upstream models (exact, Tomcat, IIS, case-only,
  NFKC).  A leak is a spelling the gate let through at other terms than some upstream serves.
- token spellings: every other spelling of minted passes and sealed states (padding, stray
  characters, other low bits); accepted ones.
- store restart: a private redis-server without persistence restarted mid-traffic; requests one
  pass paid for against its budget, and whether the pass was refused afterwards.
- answer leaks: hostile and ordinary requests through the middleware (unpaid, wrong, malformed,
  nested, ambiguous, garbled forwarding, empty passes); response and log bytes scanned for the
  hidden words.

Needs Redis (``--redis-url``, keys under a fresh prefix, deleted after) and ``redis-server``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import logging
import string
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.servers import free_port, private_redis
from gate.challenges import ChallengeService, Terms
from gate.errors import AmbiguousPath, ChallengeError, PassError, StateInvalid
from gate.gatekeeper import Allow, Challenge, Gatekeeper, GateSettings, Visitor
from gate.keys import KeyRing, b64url
from gate.passes import PassCodec
from gate.paths import PathSemantics
from gate.rules import Action, RequestFacts, Rule, RuleSet, normalize_path
from gate.sealing import Sealer
from gate.store import MemoryStore, RedisStore
from tests.support import FixedWordSource, delete_keys

# The solve-time floor is off: these classes measure consumption, not the floor.
TERMS = Terms("net:192.0.2.0/24", "http:/api/", "r", budget=3, pass_ttl=60, solve_floor=0)
RULES = RuleSet(
    [
        Rule("/articles/", price=600, solve_floor=0),
        Rule("/api/", price=1_500, budget=50, solve_floor=0),
        Rule("/closed/", action=Action.DENY),
        Rule("/free/", action=Action.ALLOW),
    ]
)
UPSTREAMS = {
    "exact": frozenset(),
    "tomcat": frozenset({"matrix-parameters"}),
    "iis": frozenset({"case-insensitive", "trailing-dots"}),
    "case-only": frozenset({"case-insensitive"}),
    "nfkc": frozenset({"unicode-compatibility"}),
}


# -- concurrent solves -------------------------------------------------------------------------


async def concurrent_solves(redis_url: str, rounds: int) -> dict[str, Any]:
    prefix = f"rg-bench-sec:{uuid.uuid4().hex}:"
    keys, source = KeyRing.generate(), FixedWordSource()
    stores = [RedisStore.from_url(redis_url, prefix=prefix) for _ in range(4)]
    replicas = [ChallengeService(store, source, PassCodec(keys)) for store in stores]
    minted: list[int] = []
    started = time.perf_counter()
    try:
        for _ in range(rounds):
            issued = await replicas[0].issue(TERMS, price=500, tier=2)
            word = source.issued[-1]
            results = await asyncio.gather(
                *(
                    replicas[i % 4].solve(issued.challenge_id, TERMS.subject, [word])
                    for i in range(200)
                ),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException) and not isinstance(result, ChallengeError):
                    raise result
            minted.append(sum(not isinstance(result, BaseException) for result in results))
    finally:
        for store in stores:
            await store.close()
        await delete_keys(redis_url, prefix)
    return {
        "rounds": rounds,
        "racers": 200 * rounds,
        "rounds_not_one": sum(count != 1 for count in minted),
        "seconds": round(time.perf_counter() - started, 1),
    }


# -- path spellings ----------------------------------------------------------------------------

_TWISTS = (
    lambda s: s.upper(),
    lambda s: s.title(),
    lambda s: s[:1].upper() + s[1:],
    lambda s: s + ";x",
    lambda s: s + ";",
    lambda s: s + ";jsessionid=AB12",
    lambda s: s + ".",
    lambda s: s + "..",
    lambda s: s + " ",
    lambda s: s + ". ",
    lambda s: s + "::$DATA",
    lambda s: chr(ord(s[0]) + 0xFEE0) + s[1:] if s[:1].isascii() and s[:1].isalpha() else s,
    lambda s: s[:6].upper() + "~1",
    lambda s: s + "\\",
)


def spellings() -> list[str]:
    """Spellings of priced and free paths: one or two twists on one segment, dot tricks."""
    out: set[str] = set()
    for base in ("/articles/1.html", "/api/secret", "/free/page", "/closed/x"):
        head, rest = base[1:].split("/", 1)
        for twist in _TWISTS:
            out.add(f"/{twist(head)}/{rest}")
            out.add(f"/{head}/{twist(rest)}")
        for first, second in itertools.combinations(_TWISTS, 2):
            out.add(f"/{second(first(head))}/{rest}")
        for lead in ("/free/..;", "/free/x/..;/..;", "/free/.;", "/x;/.."):
            out.add(f"{lead}/{head}/{rest}")
    return sorted(out)


def _terms(keeper: Gatekeeper, path: str) -> tuple[str, str]:
    rule = keeper.rules.evaluate(RequestFacts(path=path)).rule
    return rule.action.value, rule.digest if rule.action is Action.PRICE else ""


def _serves(folds: frozenset[str], path: str, keeper: Gatekeeper) -> tuple[str, str] | None:
    """The terms of what an upstream folding ``folds`` serves for ``path`` (None: refuses it)."""
    try:
        return _terms(keeper, PathSemantics(folds).readings(path)[0])
    except AmbiguousPath:
        return None


def path_matrix() -> dict[str, Any]:
    keeper = Gatekeeper(MemoryStore(), FixedWordSource(), PassCodec(KeyRing.generate()), RULES)
    corpus = spellings()
    refused = leaks = passed = unguarded = 0
    examples: list[str] = []
    for path in corpus:
        # Baseline in the same run: the gate before path semantics priced normalize_path(path).
        before = _terms(keeper, normalize_path(path))
        if any(_serves(folds, path, keeper) not in (None, before) for folds in UPSTREAMS.values()):
            unguarded += 1
        try:
            verdict = keeper.verdict(Visitor(path=path, peer="198.51.100.7"))
        except AmbiguousPath:
            refused += 1
            continue
        passed += 1
        gate = (
            verdict.rule.action.value,
            (verdict.rule.digest if verdict.rule.action is Action.PRICE else ""),
        )
        for folds in UPSTREAMS.values():
            try:
                reading = PathSemantics(folds).readings(path)[0]
            except AmbiguousPath:
                continue  # an upstream of that kind would not serve it either way
            if _terms(keeper, reading) != gate:
                leaks += 1
                examples.append(path)
                break
    return {
        "spellings": len(corpus),
        "upstream_models": len(UPSTREAMS),
        "refused": refused,
        "passed_same_terms": passed - leaks,
        "leaks": leaks,
        "leak_examples": examples[:5],
        "leaks_without_path_semantics": unguarded,
    }


# -- token spellings ---------------------------------------------------------------------------


def _respellings(text: str) -> list[str]:
    order = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    unused = {2: 4, 3: 2}.get(len(text) % 4, 0)
    value = order.index(text[-1])
    variants = [text[:-1] + order[value ^ flip] for flip in range(1, 1 << unused)]
    return [*variants, text + "=" * (-len(text) % 4 or 4), text + "==", text[:1] + "\n" + text[1:]]


def token_matrix(count: int) -> dict[str, Any]:
    keys = KeyRing.generate()
    codec, sealer = PassCodec(keys), Sealer(keys, "bench")
    tried = accepted = 0
    for i in range(count):
        token, _ = codec.mint(
            subject=f"net:{i}", scope="http:/", rule="r", budget=1, price=1, ttl=60
        )
        head, signature = token.rsplit(".", 1)
        version, kid, body = head.split(".")
        candidates = [f"{head}.{other}" for other in _respellings(signature)]
        candidates += [f"{version}.{kid}.{other}.{signature}" for other in _respellings(body)]
        for candidate in candidates:
            tried += 1
            try:
                PassCodec(keys).verify(candidate)
                accepted += 1
            except PassError:
                pass
        state = sealer.seal({"n": i}, 60)
        state_head, state_signature = state.rsplit(".", 1)
        for other in _respellings(state_signature):
            tried += 1
            try:
                sealer.unseal(f"{state_head}.{other}")
                accepted += 1
            except StateInvalid:
                pass
    assert b64url(b"") == ""
    return {"tokens": 2 * count, "respellings_tried": tried, "accepted": accepted}


# -- store restart -----------------------------------------------------------------------------


async def restart_matrix() -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        process = private_redis(port, directory)
        budget = 40
        rules = RuleSet([Rule("/api/", price=600, budget=budget, pass_ttl=600, solve_floor=0)])
        source = FixedWordSource()
        store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", timeout=0.5)
        keeper = Gatekeeper(store, source, PassCodec(KeyRing.generate()), rules)
        visitor = Visitor(path="/api/x", peer="198.51.100.7")
        try:
            issued = await keeper.decide(visitor)
            assert isinstance(issued, Challenge)
            token = (
                await keeper.solve(issued.challenge.challenge_id, visitor, [source.issued[-1]])
            ).token
            paid = Visitor(path="/api/x", peer="198.51.100.7", tokens=(token,))
            served = errors = 0
            for i in range(2 * budget):
                if i == budget // 2:
                    process.terminate()
                    process.wait(10)
                    process = private_redis(port, directory)
                try:
                    decision = await keeper.decide(paid)
                except Exception:  # the store was away: the gate answers 503, nothing passes
                    errors += 1
                    continue
                served += isinstance(decision, Allow)
            after = await keeper.decide(paid)
            return {
                "budget": budget,
                "requests": 2 * budget,
                "served": served,
                "store_errors": errors,
                "refused_after_as": after.reason if isinstance(after, Challenge) else "ALLOWED",
            }
        finally:
            await store.close()
            process.terminate()
            process.wait(10)


# -- answer leaks ------------------------------------------------------------------------------


def leak_matrix(requests: int) -> dict[str, Any]:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from gate.identity import parse_networks
    from middleware import GateMiddleware

    source = FixedWordSource(seed=99)
    keeper = Gatekeeper(
        MemoryStore(),
        source,
        PassCodec(KeyRing.generate()),
        RULES,
        GateSettings(trusted_proxies=parse_networks(["10.0.0.0/8"]), max_attempts=3),
    )

    async def page(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = GateMiddleware(Starlette(routes=[Route("/{p:path}", page)]), keeper)
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    body_bytes = 0
    kinds = [
        ("GET", "/articles/1", {}, None),
        ("GET", "/ARTICLES/1", {}, None),
        ("GET", "/articles;x/1", {}, None),
        ("GET", "/articles/1", {"Authorization": "ReasoningGate"}, None),
        ("GET", "/articles/1", {"X-Forwarded-For": "junk"}, None),
        ("POST", None, {}, b'{"answers": ["wrong"]}'),
        ("POST", None, {}, b'{"answers": ' + b"[" * 3000 + b"]" * 3000 + b"}"),
        ("POST", None, {}, b'{"answers": [1]}'),
        ("POST", None, {"Content-Type": "text/plain"}, b"x"),
    ]
    sent = 0
    try:
        with TestClient(app, client=("10.0.0.2", 4000)) as client:
            while sent < requests:
                for method, path, headers, body in kinds:
                    accept = ["application/json", "text/html", "text/markdown"][sent % 3]
                    headers = {"Accept": accept, **headers}
                    if method == "GET":
                        response = client.get(path, headers=headers)
                    else:
                        unpaid = client.get("/articles/1", headers={"Accept": "application/json"})
                        url = unpaid.json()["challenge"]["url"]
                        response = client.post(
                            url,
                            content=body,
                            headers={"Content-Type": "application/json", **headers},
                        )
                    body_bytes += len(response.content) + sum(
                        len(k) + len(v) for k, v in response.headers.items()
                    )
                    scanned = response.text + " ".join(response.headers.values())
                    for word in source.issued[-4:]:
                        if word in scanned.lower():
                            raise SystemExit(f"answer leaked in a response: {method} {path}")
                    sent += 1
    finally:
        root.removeHandler(handler)
    log = captured.getvalue().lower()
    leaked = sum(1 for word in set(source.issued) if word in log)
    return {
        "requests": sent,
        "response_bytes": body_bytes,
        "log_bytes": len(log),
        "hidden_words": len(set(source.issued)),
        "leaks": leaked,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--quick", action="store_true", help="10 rounds, fewer tokens/requests")
    args = parser.parse_args()
    rounds = 10 if args.quick else args.rounds
    results = {
        "concurrent_solves": asyncio.run(concurrent_solves(args.redis_url, rounds)),
        "path_spellings": path_matrix(),
        "token_spellings": token_matrix(100 if args.quick else 1_000),
        "store_restart": asyncio.run(restart_matrix()),
        "answer_leaks": leak_matrix(300 if args.quick else 3_000),
    }
    with contextlib.suppress(Exception):
        logging.getLogger().handlers.clear()
    held = (
        results["concurrent_solves"]["rounds_not_one"] == 0
        and results["path_spellings"]["leaks"] == 0
        and results["token_spellings"]["accepted"] == 0
        and results["store_restart"]["served"] <= results["store_restart"]["budget"]
        and results["store_restart"]["refused_after_as"] == "reset"
        and results["answer_leaks"]["leaks"] == 0
    )
    for name, figures in results.items():
        print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    print("held" if held else "DID NOT HOLD")
    sys.exit(0 if held else 1)


if __name__ == "__main__":
    main()
