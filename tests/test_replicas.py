"""Two real ``gate proxy`` processes on one Redis and one PostgreSQL behave as one gate, on a
single Redis server and on a three-master Redis Cluster (tests/plugins/redis_cluster.py).

The schema is made the production way (``gate db upgrade``, then services that only check it), both
replicas hold one signing key (one from its file, the other from ``GATE_SIGNING_KEY``) and share the
policy, and each test speaks for a client network of its
own (``X-Forwarded-For`` from the trusted loopback proxy) so ledgers and rate counters never mix.
Every wait has a deadline and the processes are killed on teardown, whatever happened.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy.engine import make_url

from gate.keys import load_keyring
from gate.puzzle import puzzle_from_dict
from puzzles.db import create_engine, session_factory
from tests.bank_solver import BankSolver
from tests.plugins.sql import postgres_url
from tests.support import CONSONANTS

JSON = {"Accept": "application/json"}
START_TIMEOUT = 90.0  # two processes loading the bank on two shared cores
POLICY_TIMEOUT = 30.0
PRICED = """
version: 1
defaults: {budget: 5, pass_ttl: 600, free_per_window: 0}
rules:
  - {name: articles, match: {path: /articles/}, action: challenge, price: 600}
default: allow
"""
FREE = PRICED.replace("action: challenge, price: 600", "action: allow")


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"upstream {self.path}".encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _create_schema(base: str, schema: str, *, drop: bool = False) -> None:
    import asyncpg

    dsn = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        sql = f'DROP SCHEMA IF EXISTS "{schema}" CASCADE' if drop else f'CREATE SCHEMA "{schema}"'
        await connection.execute(sql)
    finally:
        await connection.close()


async def _seed(url: str) -> BankSolver:
    from puzzles.bank import ClueBank
    from puzzles.knowledge import builtin_clues

    rng = random.Random(5)
    words = {"".join(rng.choice(CONSONANTS) for _ in range(rng.randint(4, 8))) for _ in range(200)}
    engine = create_engine(url)
    try:
        await ClueBank(engine).seed(builtin_clues(), sorted(words))
        return await BankSolver.load(engine)
    finally:
        await engine.dispose()


@dataclass
class Cluster:
    urls: tuple[str, str]
    database_url: str
    policy_file: Path
    solver: BankSolver
    logs: tuple[Path, Path]

    def client_headers(self) -> dict[str, str]:
        """A fresh client network for one test (trusted proxy: loopback)."""
        network = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}"
        return {**JSON, "X-Forwarded-For": f"{network}.7"}

    def challenge(self, replica: int, headers: dict[str, str]) -> dict:
        response = httpx2.get(f"{self.urls[replica]}/articles/1", headers=headers, timeout=10)
        assert response.status_code == 401, response.text
        return response.json()["challenge"]

    def answers(self, challenge: dict) -> list[str]:
        return self.solver.solve(puzzle_from_dict(challenge["puzzle"]))

    def solve(self, replica: int, challenge: dict, headers: dict[str, str]) -> httpx2.Response:
        url: str = challenge["url"]
        # The same path on either replica: a challenge id is all a replica needs.
        path = "/" + url.split("/", 3)[3] if url.startswith("http") else url
        return httpx2.post(
            self.urls[replica] + path,
            json={"answers": self.answers(challenge)},
            headers=headers,
            timeout=10,
        )

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                logs = "\n".join(log.read_text()[-2000:] for log in self.logs)
                pytest.fail(f"{what} within {timeout:.0f} s\n{logs}")
            time.sleep(0.2)


@pytest.fixture(scope="module", params=["redis", "redis-cluster"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    store_url: str = request.getfixturevalue(
        "own_redis_url" if request.param == "redis" else "redis_cluster_url"
    )
    tmp = tmp_path_factory.mktemp("replicas")
    base = postgres_url()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    asyncio.run(_create_schema(base, schema))
    database_url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    url = database_url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env.update(
        GATE_DATABASE_URL=url,
        GATE_STORE_URL=store_url,
        GATE_SIGNING_KEY_FILE=str(tmp / "signing-key.pem"),
        GATE_DB_AUTO_UPGRADE="never",
        GATE_TRUSTED_PROXIES="127.0.0.1/32",
        GATE_POLICY_FILE=str(tmp / "policy.yaml"),
        GATE_POLICY_POLL="0.2",
        GATE_STATE_DIR=str(tmp / "state"),
        GATE_DECODE_RATE="1000000000",  # answers go in at once: no solve-time floor here
        GATE_HUMAN_FLOOR="0",
    )
    ring = load_keyring(tmp / "signing-key.pem", create=True)
    # Replica A reads the key file, replica B the same key from its environment.
    seed = ring.signing.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    env_b = {k: v for k, v in env.items() if k != "GATE_SIGNING_KEY_FILE"}
    env_b["GATE_SIGNING_KEY"] = base64.b64encode(seed).decode()
    (tmp / "policy.yaml").write_text(PRICED)
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        upgrade = subprocess.run(
            [sys.executable, "-m", "gate.cli", "db", "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        solver = asyncio.run(_seed(url))
        ports = (_free_port(), _free_port())
        logs = (tmp / "a.log", tmp / "b.log")
        for port, log, replica_env in zip(ports, logs, (env, env_b), strict=True):
            args = [sys.executable, "-m", "gate.cli", "proxy", "--port", str(port)]
            args += ["--upstream", f"http://127.0.0.1:{upstream.server_address[1]}"]
            with log.open("w") as out:
                processes.append(
                    subprocess.Popen(
                        args, env=replica_env, cwd=tmp, stdout=out, stderr=subprocess.STDOUT
                    )
                )
        built = Cluster(
            tuple(f"http://127.0.0.1:{port}" for port in ports),  # type: ignore[arg-type]
            url,
            tmp / "policy.yaml",
            solver,
            logs,
        )

        def serving() -> bool:
            for process, log in zip(processes, logs, strict=True):
                assert process.poll() is None, log.read_text()
            try:
                return all(httpx2.get(f"{u}/", timeout=2).status_code == 200 for u in built.urls)
            except httpx2.TransportError:
                return False

        built.wait_for("both replicas did not start", serving, START_TIMEOUT)
        yield built
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()
        asyncio.run(_create_schema(base, schema, drop=True))


def test_a_pass_minted_on_one_replica_is_honoured_by_the_other(cluster: Cluster) -> None:
    headers = cluster.client_headers()
    challenge = cluster.challenge(0, headers)
    solved = cluster.solve(0, challenge, headers)
    assert solved.status_code == 200, solved.text
    paid = {**headers, "Authorization": solved.json()["authorization"]}
    budgets = []
    for replica in (1, 0, 1):
        page = httpx2.get(f"{cluster.urls[replica]}/articles/2", headers=paid, timeout=10)
        assert page.status_code == 200 and page.text == "upstream /articles/2"
        budgets.append(int(page.headers["gate-budget-remaining"]))
    assert budgets == [4, 3, 2]  # one budget in Redis, metered by both replicas


def test_a_challenge_answered_on_both_replicas_at_once_mints_one_pass(cluster: Cluster) -> None:
    headers = cluster.client_headers()
    for _ in range(3):
        challenge = cluster.challenge(random.randint(0, 1), headers)
        barrier = threading.Barrier(2, timeout=10)

        def race(replica: int, challenge: dict = challenge, barrier=barrier) -> int:
            barrier.wait()
            return cluster.solve(replica, challenge, headers).status_code

        with ThreadPoolExecutor(max_workers=2) as pool:
            statuses = sorted(pool.map(race, (0, 1)))
        assert statuses == [200, 410], statuses


def test_a_policy_change_reaches_every_replica(cluster: Cluster) -> None:
    headers = cluster.client_headers()

    def status_everywhere(expected: int) -> Callable[[], bool]:
        return lambda: all(
            httpx2.get(f"{url}/articles/9", headers=headers, timeout=5).status_code == expected
            for url in cluster.urls
        )

    assert status_everywhere(401)()
    # A dashboard edit: a new version stored in SQL, which every replica polls.
    from operator_state.policy_store import save_policy

    async def store(text: str) -> None:
        engine = create_engine(cluster.database_url)
        try:
            await save_policy(session_factory(engine), text, actor="test-replicas")
        finally:
            await engine.dispose()

    asyncio.run(store(FREE))
    cluster.wait_for(
        "the stored policy did not reach both replicas", status_everywhere(200), POLICY_TIMEOUT
    )
    # An edit of the shared policy file: imported by the replicas that watch it, then polled by all.
    cluster.policy_file.write_text(PRICED + "\n# priced again\n")
    cluster.wait_for(
        "the policy file did not reach both replicas", status_everywhere(401), POLICY_TIMEOUT
    )
