"""The ``gate`` command line, including a real start of the demo."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from typer.testing import CliRunner

from gate.cli import app
from gate.keys import load_keyring
from tests.support import free_port as _free_port

runner = CliRunner()


def test_seeding_is_one_command_and_safe_to_repeat(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bank.db'}"
    first = runner.invoke(app, ["puzzles", "seed", "--database-url", url])
    assert first.exit_code == 0, first.output
    added = int(first.output.split("Added ")[1].split(" clues")[0])
    assert added >= 2_000
    again = runner.invoke(app, ["puzzles", "seed", "--database-url", url])
    assert again.exit_code == 0 and "Added 0 clues and 0 words" in again.output
    stats = runner.invoke(app, ["puzzles", "stats", "--database-url", url])
    assert stats.exit_code == 0 and "Clues by tier" in stats.output and "Chemistry" in stats.output


def test_key_generation_writes_a_private_key_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    result = runner.invoke(app, ["keys", "generate", str(path)])
    assert result.exit_code == 0 and "key id" in result.output
    assert load_keyring(path).kid in result.output
    assert (path.stat().st_mode & 0o777) == 0o600
    assert runner.invoke(app, ["keys", "generate", str(path)]).exit_code == 1


def test_bad_configuration_is_reported_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_MAX_ATTEMPTS", "lots")
    result = runner.invoke(app, ["puzzles", "stats"])
    assert result.exit_code == 2 and "GATE_MAX_ATTEMPTS" in result.output


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_the_demo_seeds_itself_on_first_start_and_serves_free_and_priced_pages(
    tmp_path: Path, store: str, database_url: str, request: pytest.FixtureRequest
) -> None:
    port = _free_port()
    args = [
        sys.executable,
        "-m",
        "gate.cli",
        "demo",
        "--port",
        str(port),
        "--database-url",
        database_url,
    ]
    if store == "redis":
        args += ["--redis-url", request.getfixturevalue("own_redis_url")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env["GATE_STATE_DIR"] = str(tmp_path / "state")
    with (tmp_path / "demo.log").open("w") as log:
        demo = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx2.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx2.TransportError:
                assert demo.poll() is None, (tmp_path / "demo.log").read_text()
                assert time.monotonic() < deadline, "the demo did not start within 60 s"
                time.sleep(0.2)
        assert response.status_code == 200
        priced = httpx2.get(f"http://127.0.0.1:{port}/articles/1", timeout=5)
        assert priced.status_code == 401 and priced.json()["challenge"]["puzzle"]["gates"]
    finally:
        demo.terminate()
        demo.wait(timeout=20)
    output = (tmp_path / "demo.log").read_text()
    assert "Seeded the clue bank with" in output
    assert f"curl -i http://127.0.0.1:{port}/articles/1" in output
    assert (tmp_path / "state" / "signing-key.pem").exists()


def test_api_keys_are_created_listed_and_revoked(tmp_path: Path) -> None:
    url = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}"]
    created = runner.invoke(app, ["apikeys", "create", "acme", "--tier", "partner", *url])
    assert created.exit_code == 0 and "rgk_" in created.output
    assert (
        runner.invoke(app, ["apikeys", "create", "acme", *url]).exit_code == 1
    )  # names are unique
    listed = runner.invoke(app, ["apikeys", "list", *url])
    assert "acme" in listed.output and "partner" in listed.output and "active" in listed.output
    assert runner.invoke(app, ["apikeys", "revoke", "acme", *url]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["apikeys", "list", *url]).output
    assert runner.invoke(app, ["apikeys", "revoke", "acme", *url]).exit_code == 1


async def test_gate_proxy_protects_a_site_reloads_its_policy_on_sighup_and_serves_metrics(
    tmp_path: Path, seeded_state: Path
) -> None:
    import asyncio
    import signal

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    site = Starlette(routes=[Route("/{p:path}", lambda r: PlainTextResponse(f"site {r.url.path}"))])
    upstream = uvicorn.Server(uvicorn.Config(site, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(upstream.serve())
    while not upstream.started:
        await asyncio.sleep(0.01)
    upstream_port = upstream.servers[0].sockets[0].getsockname()[1]
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules: [{name: api, match: {path: /api/}, action: challenge, price: 1500}]")
    port, metrics_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    env |= {"GATE_STATE_DIR": str(seeded_state), "GATE_POLICY_FILE": str(policy)}
    args = [
        sys.executable,
        "-m",
        "gate.cli",
        "proxy",
        "--upstream",
        f"http://127.0.0.1:{upstream_port}",
        "--port",
        str(port),
        "--metrics-port",
        str(metrics_port),
    ]
    with (tmp_path / "proxy.log").open("w") as log:
        proxy = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    home = await client.get("/")
                    break
                except httpx2.TransportError:
                    assert proxy.poll() is None, (tmp_path / "proxy.log").read_text()
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.2)
            assert home.status_code == 200 and home.text == "site /"
            assert (await client.get("/api/x")).status_code == 401
            policy.write_text("rules: [{name: api, match: {path: /api/}, action: deny}]")
            proxy.send_signal(signal.SIGHUP)
            for _ in range(50):
                if (await client.get("/api/x")).status_code == 403:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the policy change never applied")
            metrics = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert metrics.status_code == 200 and "gate_requests_total" in metrics.text
            assert (
                await client.get("/metrics")
            ).text == "site /metrics"  # not on the public listener
    finally:
        proxy.terminate()
        proxy.wait(timeout=20)
        upstream.should_exit = True
        await serving
