"""A real gate on loopback for ``bench/shortcut.py``, and a client that speaks only its wire protocol.

The gate is ``gate proxy`` in a subprocess, configured only through documented knobs: CLI flags,
``GATE_*`` variables and a policy YAML file.  ``GATE_TRUSTED_PROXIES=127.0.0.1/32`` lets the bench
present many client networks through ``X-Forwarded-For``, as an attacker with many addresses
would.  Each gate gets its own state directory and SQLite bank (a copy of one seeded at start),
because with ``GATE_SERVE_LIMIT=1`` a phase uses up the texts it is served.

The client detects protocol revisions as it goes (``Protocol``): per-clue ids in the puzzle JSON,
``not_before``/``floor`` on challenges, ``429 too_early`` on early answers, the same challenge
returned when an identity asks again, ``price_basis``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

from bench.servers import ServerStartError, free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]
GATE = str(Path(sys.executable).with_name("gate"))
PRICED_PATH = "/articles/1"  # floorless rule (solve_floor: 0): the bulk phases
TIMED_PATH = "/timed/1"  # the same terms with the default floor: the passes-per-hour runs
START_TIMEOUT = 90.0  # a gate's first start opens (and may upgrade) its bank


def identity(i: int) -> str:
    """The i-th client network: one address in its own /24 (the gate's anonymous identity)."""
    return f"10.{(i >> 8) & 255}.{i & 255}.1"


def _clean_env() -> dict[str, str]:
    # inherited GATE_* settings would make a run depend on the caller's shell
    return {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}


def has_build_command() -> bool:
    """``gate puzzles build`` (the generated bank) is used when the CLI offers it."""
    probe = subprocess.run(
        [GATE, "puzzles", "build", "--help"], capture_output=True, text=True, env=_clean_env()
    )
    return probe.returncode == 0 and "build" in probe.stdout.lower()


def source_digest() -> str:
    """What a bank built here depends on: the generators, their tables and the CLI's build."""
    digest = hashlib.sha256()
    for pattern in (
        "puzzles/knowledge/*.py",
        "puzzles/data/*",
        "puzzles/bank.py",
        "puzzles/words.py",
    ):
        for path in sorted(ROOT.glob(pattern)):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def seed_bank(directory: Path, mode: str = "auto", cache: Path | None = None) -> tuple[Path, str]:
    """Seed one bank into ``directory``: the built-in clues (``gate puzzles seed``), plus the large
    generated bank (``gate puzzles build``) when ``mode`` asks for it or, for ``auto``, when the
    CLI has the command.  A bank made from the same sources is reused from ``cache``.

    Returns the database file and how it was made."""
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "bank.db"
    build = mode == "build" or (mode == "auto" and has_build_command())
    how = "gate puzzles seed + gate puzzles build" if build else "gate puzzles seed"
    cached = cache / f"bank-{source_digest()}-{'build' if build else 'seed'}.db" if cache else None
    if cached is not None and cached.exists():
        shutil.copyfile(cached, db)
        return db, how + " (cached)"
    url = f"sqlite+aiosqlite:///{db}"
    env = _clean_env() | {"GATE_STATE_DIR": str(directory)}
    subprocess.run(
        [GATE, "puzzles", "seed", "--database-url", url], env=env, check=True, capture_output=True
    )
    if build:
        done = subprocess.run(
            [GATE, "puzzles", "build", "--database-url", url],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise ServerStartError(f"gate puzzles build failed: {done.stderr.strip()[-400:]}")
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(db, cached)
    return db, how


@dataclass(slots=True)
class GateSpec:
    tier: int
    price: int
    solve_floor: float | None  # None: leave the rule's default floor (price / decode rate)
    serve_limit: int | None  # None: the gate's default
    max_attempts: int | None = None
    timed_floor: float | None = None  # the timed rule's solve_floor; None: the gate's default


class Upstream:
    """The trivial site behind the gate: Python's own static file server on a temp directory."""

    def __init__(self, workdir: Path) -> None:
        self.root = workdir / "www"
        (self.root / "articles").mkdir(parents=True, exist_ok=True)
        (self.root / "articles" / "1").write_text("an article\n")
        (self.root / "timed").mkdir(exist_ok=True)
        (self.root / "timed" / "1").write_text("a timed article\n")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                str(self.port),
                "-d",
                str(self.root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, self.proc, START_TIMEOUT)

    def close(self) -> None:
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


class GateProcess:
    """``gate proxy`` with its own state directory and a copy of the seeded bank."""

    def __init__(
        self, spec: GateSpec, workdir: Path, template_db: Path, upstream: Upstream, name: str
    ) -> None:
        self.spec = spec
        self.dir = workdir / name
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        self.db = self.dir / "bank.db"
        shutil.copyfile(template_db, self.db)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.floor_supported = True
        self.log = self.dir / "gate.log"
        self.proc = self._start(upstream, with_floor=spec.solve_floor is not None)

    def _policy(self, with_floor: bool) -> Path:
        lines = [
            "version: 1",
            "rules:",
            "  - name: articles",
            "    match: {path: /articles/}",
            "    action: challenge",
            f"    price: {self.spec.price}",
            "    budget: 5",
        ]
        if with_floor:
            lines.append(f"    solve_floor: {self.spec.solve_floor:g}")
        # the timed rule keeps the gate's default floor (price / GATE_DECODE_RATE)
        lines += [
            "  - name: timed",
            "    match: {path: /timed/}",
            "    action: challenge",
            f"    price: {self.spec.price}",
            "    budget: 5",
        ]
        if with_floor and self.spec.timed_floor is not None:
            lines.append(f"    solve_floor: {self.spec.timed_floor:g}")
        lines.append("default: allow")
        path = self.dir / "policy.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _start(self, upstream: Upstream, with_floor: bool) -> subprocess.Popen[bytes]:
        env = _clean_env() | {
            "GATE_STATE_DIR": str(self.dir),
            "GATE_DATABASE_URL": f"sqlite+aiosqlite:///{self.db}",
            "GATE_TRUSTED_PROXIES": "127.0.0.1/32",
            "GATE_POLICY_FILE": str(self._policy(with_floor)),
            "GATE_AGENT_TIER": str(self.spec.tier),
        }
        if self.spec.serve_limit is not None:
            env["GATE_SERVE_LIMIT"] = str(self.spec.serve_limit)
        if self.spec.max_attempts is not None:
            env["GATE_MAX_ATTEMPTS"] = str(self.spec.max_attempts)
        cmd = [
            GATE,
            "proxy",
            "--upstream",
            f"http://127.0.0.1:{upstream.port}",
            "--port",
            str(self.port),
        ]
        with self.log.open("wb") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_port(self.port, proc, START_TIMEOUT)
        except ServerStartError:
            text = self.log.read_text(errors="replace")
            if with_floor and "solve_floor" in text:
                # a gate from before the solve-time floor refuses the key: run without it
                self.floor_supported = False
                return self._start(upstream, with_floor=False)
            raise ServerStartError(f"gate did not start: {text[-600:]}") from None
        return proc

    def close(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- the client ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Protocol:
    """What the running gate's protocol looked like (detected, never assumed)."""

    clue_ids: bool = False
    not_before: bool = False
    floor_field: bool = False
    too_early_seen: int = 0
    same_on_rerequest: bool | None = None
    price_basis: set[str] = field(default_factory=set)
    rate_limited: int = 0
    unavailable: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "clue_ids_in_json": self.clue_ids,
            "not_before_in_json": self.not_before,
            "floor_in_json": self.floor_field,
            "too_early_429_seen": self.too_early_seen,
            "same_challenge_on_rerequest": self.same_on_rerequest,
            "price_basis": sorted(self.price_basis),
            "rate_limited_429_seen": self.rate_limited,
            "unavailable_503_seen": self.unavailable,
        }


@dataclass(slots=True)
class Challenge:
    id: str
    url: str
    price: int
    tier: int
    attempts: int
    expires_at: float
    not_before: float
    floor: float | None
    received: float  # time.time() when the client got it
    gates: list[list[tuple[str, str]]]  # (domain, text) per clue, per gate

    @property
    def texts(self) -> list[list[str]]:
        return [[text for _, text in g] for g in self.gates]


class BankDry(RuntimeError):
    """The gate answered 503: with a serve limit the bank runs out; reported, not fatal."""


class RateLimited(RuntimeError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after}s")
        self.retry_after = retry_after


@dataclass(slots=True)
class Outcome:
    passed: bool
    attempt: int  # attempts used (1-based) when passed, else attempts made
    waited_too_early: float = 0.0


class _NoCookies(httpx.AsyncBaseTransport):
    """Drops ``Set-Cookie``: a pass cookie from one solve must not ride along on the next request
    (the bench counts passes, it never spends them; a program sends passes explicitly)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if "set-cookie" in response.headers:
            del response.headers["set-cookie"]
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class Client:
    def __init__(
        self, base: str, protocol: Protocol, concurrency: int = 32, path: str = PRICED_PATH
    ) -> None:
        self.path = path
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.http = httpx.AsyncClient(
            base_url=base, timeout=30, transport=_NoCookies(httpx.AsyncHTTPTransport(limits=limits))
        )
        self.protocol = protocol

    async def close(self) -> None:
        await self.http.aclose()

    async def _send(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        """One request, retried on a transport error: uvicorn closes idle keep-alive connections
        after 5 s, and a pooled connection can be reused at that very moment."""
        for attempt in range(4):
            try:
                return await self.http.request(method, url, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError:
                if attempt == 3:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def _headers(self, ip: str) -> dict[str, str]:
        return {"X-Forwarded-For": ip, "Accept": "application/json"}

    def _parse(self, body: dict) -> Challenge:
        ch = body["challenge"]
        puzzle = ch["puzzle"]
        gates = []
        for gate in puzzle["gates"]:
            clues = gate["clues"]
            if any("id" in c for c in clues):
                self.protocol.clue_ids = True  # identifies a letter across challenges; unused here
            gates.append([(str(c.get("domain", "")), str(c["text"])) for c in clues])
        if "not_before" in ch:
            self.protocol.not_before = True
        if "floor" in ch:
            self.protocol.floor_field = True
        if "price_basis" in ch:
            self.protocol.price_basis.add(str(ch["price_basis"]))
        return Challenge(
            id=str(ch["id"]),
            url=str(ch["url"]),
            price=int(ch["price"]),
            tier=int(puzzle.get("tier", 0)),
            attempts=int(ch.get("attempts", 5)),
            expires_at=float(ch.get("expires_at", 0)),
            not_before=float(ch.get("not_before", 0) or 0),
            floor=float(ch["floor"]) if ch.get("floor") is not None else None,
            received=time.time(),
            gates=gates,
        )

    async def challenge(self, ip: str) -> Challenge:
        """Ask for the priced page without a pass: 401 + challenge, or BankDry / RateLimited."""
        response = await self._send("GET", self.path, headers=self._headers(ip))
        if response.status_code == 401:
            return self._parse(response.json())
        if response.status_code == 429:
            self.protocol.rate_limited += 1
            raise RateLimited(float(response.headers.get("retry-after", "1")))
        if response.status_code == 503:
            self.protocol.unavailable += 1
            raise BankDry(response.text[:200])
        raise RuntimeError(
            f"unexpected {response.status_code} for the priced page: {response.text[:200]}"
        )

    async def submit(
        self, ch: Challenge, words: list[str], ip: str, wait_floor: bool = True
    ) -> tuple[int, dict]:
        """POST one answer; waits out ``not_before`` and ``429 too_early`` as the protocol asks.

        Returns (status, body) of the judged answer: 200 pass, 400 wrong, 410 gone, 403 mismatch.
        """
        waited = 0.0
        if wait_floor and ch.not_before:
            delay = ch.not_before - time.time()
            if delay > 0:
                await asyncio.sleep(delay + 0.01)
        while True:
            response = await self._send(
                "POST", ch.url, json={"answers": words}, headers=self._headers(ip)
            )
            if response.status_code == 429:
                body = (
                    response.json()
                    if response.headers.get("content-type", "").startswith("application/json")
                    else {}
                )
                if body.get("error") == "too_early":
                    self.protocol.too_early_seen += 1
                    delay = float(
                        body.get("retry_after") or response.headers.get("retry-after", "1")
                    )
                    waited += delay
                    await asyncio.sleep(delay)
                    continue
                self.protocol.rate_limited += 1
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            try:
                body = response.json()
            except ValueError:
                body = {}
            body["_waited_too_early"] = waited
            return response.status_code, body

    async def attempt_all(
        self, ch: Challenge, guesses: list[list[str]], ip: str, wait_floor: bool = True
    ) -> Outcome:
        """Try up to the challenge's attempts, best guess first."""
        made = 0
        waited = 0.0
        for words in guesses[: ch.attempts]:
            status, body = await self.submit(ch, words, ip, wait_floor)
            waited += float(body.get("_waited_too_early", 0.0))
            made += 1
            if status == 200:
                return Outcome(True, made, waited)
            if status != 400:
                break
        return Outcome(False, made, waited)

    async def check_same_on_rerequest(self, ip: str) -> None:
        """Change 2: an identity's outstanding challenge is returned again, not a new one."""
        first = await self.challenge(ip)
        second = await self.challenge(ip)
        self.protocol.same_on_rerequest = first.id == second.id
