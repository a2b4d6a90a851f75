"""API keys: stored hashed, priced as their holder, with the holder's tier; revocable."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gate.config import GateConfig
from gate.gatekeeper import Visitor
from gate.policy import parse_policy
from gate.rules import RuleSet
from middleware import GateMiddleware
from operator_state.apikeys import create_api_key, list_api_keys, revoke_api_key
from operator_state.models import ApiKey
from serving.runtime import open_runtime

POLICY = """
tiers:
  partner: {discount: 0.5, free_per_window: 2}
  verified-bot: {discount: 0.25}
rules:
  - name: api
    match: {path: /api/}
    action: challenge
    price: 3000
"""


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"gate-key": request.headers.get("gate-key")})


async def test_an_api_key_prices_its_holder_with_the_holders_tier(
    seeded_state: Path, tmp_path: Path
) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY)
    config = GateConfig.from_env({"GATE_POLICY_FILE": str(policy_file)}, state_dir=seeded_state)
    runtime = await open_runtime(config, RuleSet([]), seed=False)
    try:
        key = await create_api_key(runtime.engine, "acme-test-1", tier="partner")
        async with runtime.engine.connect() as connection:
            stored = (await connection.execute(select(ApiKey.key_hash))).scalars().all()
        assert key not in stored and all(len(h) == 64 for h in stored)  # only a hash is kept
        await runtime.refresh_api_keys()
        gk = runtime.gatekeeper
        holder = Visitor(path="/api/x", peer="198.51.100.7", api_key=key)
        assert gk.identity(holder) == "key:acme-test-1"
        stranger = Visitor(path="/api/x", peer="198.51.100.7", api_key="rgk_not-a-key")
        assert gk.identity(stranger) == "net:198.51.100.0/24"

        site = Starlette(routes=[Route("/api/{p:path}", echo)])
        client = TestClient(GateMiddleware(site, gk), client=("198.51.100.7", 1))
        headers = {"Gate-Key": key, "Accept": "application/json"}
        first = client.get("/api/x", headers=headers)
        assert (
            first.status_code == 200 and first.json()["gate-key"] is None
        )  # never reaches the app
        assert client.get("/api/x", headers=headers).status_code == 200  # the tier's free allowance
        priced = client.get("/api/x", headers=headers)
        assert priced.status_code == 401
        assert priced.json()["challenge"]["price"] < 3000  # half price (rounded up to whole clues)
        anonymous = client.get("/api/x", headers={"Accept": "application/json"})
        assert anonymous.status_code == 401 and anonymous.json()["challenge"]["price"] >= 3000

        bot = Visitor(path="/api/x", peer="198.51.100.7", bot="examplebot")
        assert gk.identity(bot) == "bot:examplebot" and gk.tier(bot).discount == 0.25  # type: ignore[union-attr]

        assert await revoke_api_key(runtime.engine, "acme-test-1")
        await runtime.refresh_api_keys()
        assert gk.identity(holder) == "net:198.51.100.0/24"
        assert [(r.name, r.revoked) for r in await list_api_keys(runtime.engine)] == [
            ("acme-test-1", True)
        ]
    finally:
        await runtime.close()


def test_policies_refuse_bad_tiers() -> None:
    import pytest

    from gate.errors import ConfigError

    with pytest.raises(ConfigError, match="discount must be at least 0 and below 1"):
        parse_policy("tiers: {gold: {discount: 1.5}}")
    with pytest.raises(ConfigError, match="unknown field"):
        parse_policy("tiers: {gold: {price: 1}}")


def test_a_bot_with_a_valid_signature_is_priced_as_itself_once_per_nonce() -> None:
    import base64
    import time

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gate.botauth import KeyDirectory, make_nonce, public_key_thumbprint, sign_request
    from gate.gatekeeper import Gatekeeper
    from gate.keys import KeyRing
    from gate.passes import PassCodec
    from gate.store import MemoryStore
    from tests.support import FixedWordSource

    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    directory = KeyDirectory.from_jwks(
        {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x}]}, name="examplebot"
    )
    policy = parse_policy(POLICY)
    gk = Gatekeeper(MemoryStore(), FixedWordSource(), PassCodec(KeyRing.generate()), policy)
    gk.bot_keys = directory
    client = TestClient(
        GateMiddleware(Starlette(), gk), base_url="https://site.example", client=("198.51.100.9", 1)
    )

    def signed() -> dict[str, str]:
        now = int(time.time())
        headers = sign_request(
            key,
            public_key_thumbprint(key.public_key()),
            "GET",
            "site.example",
            "/api/x",
            {},
            created=now,
            expires=now + 60,
            nonce=make_nonce(),
        )
        return {**headers, "Accept": "application/json"}

    as_bot = client.get("/api/x", headers=signed())
    anonymous = client.get("/api/x", headers={"Accept": "application/json"})
    assert as_bot.status_code == anonymous.status_code == 401
    assert (
        as_bot.json()["challenge"]["price"] < anonymous.json()["challenge"]["price"]
    )  # verified-bot tier

    replayed_headers = signed()
    client.get("/api/x", headers=replayed_headers)
    replay = client.get("/api/x", headers=replayed_headers)  # same nonce: priced as anonymous again
    assert replay.json()["challenge"]["price"] >= anonymous.json()["challenge"]["price"]
