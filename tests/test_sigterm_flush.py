"""Nothing lost on SIGTERM: a real `gate proxy` stopped under load has written every clue serve to
SQL, so a restart does not serve those clue texts again.

Redis keeps the live per-clue serve counters; SQL's ``times_served`` is what a restart reads.  The
test floods a gate with unpaid first requests from many networks (each composes a challenge and
spends clues), stops it with SIGTERM mid-flood, and compares the two.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx2
import redis

from tests.support import free_port
from tests.test_replicas import PRICED, _Upstream


def test_sigterm_under_load_leaves_sql_and_redis_serve_counts_equal(
    tmp_path: Path, own_redis_url: str
) -> None:
    # A Redis server of the test's own (empty at start, gone at the end): the gate writes under
    # its default prefix, and the serve counters it leaves are what the test counts.
    store_url = own_redis_url
    counters = redis.Redis.from_url(store_url)
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    (tmp_path / "policy.yaml").write_text(PRICED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env.update(
        GATE_STATE_DIR=str(tmp_path),
        GATE_STORE_URL=store_url,
        GATE_TRUSTED_PROXIES="127.0.0.1/32",
        GATE_POLICY_FILE=str(tmp_path / "policy.yaml"),
    )
    port = free_port()
    log = (tmp_path / "gate.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "gate.cli", "proxy", "--port", str(port)),
            *("--upstream", f"http://127.0.0.1:{upstream.server_address[1]}"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "gate.log").read_text()
            try:
                if httpx2.get(base + "/", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "the gate did not start"
            time.sleep(0.2)

        answered = []

        def ask(n: int) -> None:
            try:
                response = httpx2.get(
                    f"{base}/articles/{n}",
                    headers={"X-Forwarded-For": f"10.{n // 250}.{n % 250}.7"},
                    timeout=10,
                )
                answered.append(response.status_code)
            except httpx2.TransportError:
                answered.append(0)  # the gate has gone: expected after SIGTERM

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(ask, n) for n in range(600)]
            while len(answered) < 150:
                time.sleep(0.01)
            process.send_signal(signal.SIGTERM)
            for future in futures:
                future.result()
        # uvicorn shuts down gracefully, then re-raises the signal for the exit status.
        assert process.wait(timeout=60) in (0, -signal.SIGTERM), (tmp_path / "gate.log").read_text()
        assert "Application shutdown complete" in (tmp_path / "gate.log").read_text()
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
        upstream.shutdown()
        upstream.server_close()

    assert answered.count(401) >= 150  # challenges were being composed when the signal came
    # A Redis counter counts its clue's serves exactly: a race lost to another request (count 2
    # with GATE_SERVE_LIMIT=1) is undone and re-picked, and a serve claimed for a gate the
    # composer then re-spelled is handed back.  So the counters sum to SQL's times_served.
    counts = [int(counters.get(key) or 0) for key in counters.scan_iter("rg:clue:served:*")]
    counters.close()
    with sqlite3.connect(tmp_path / "gate.db") as db:
        (flushed,) = db.execute("SELECT COALESCE(SUM(times_served), 0) FROM clues").fetchone()
        (served_out,) = db.execute("SELECT COUNT(*) FROM clues WHERE times_served >= 1").fetchone()
    # Each served clue once, all of it in SQL.
    assert served_out > 0 and served_out == flushed == sum(counts) == sum(c >= 1 for c in counts)
