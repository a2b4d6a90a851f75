"""Web Bot Auth (HTTP Message Signatures, Ed25519): verification, key directory, replay.

Ground truth from outside this code base: RFC 8037 Appendix A.3 (thumbprint), RFC 9421 Appendix
B.2.6 (Ed25519 signature base and signature) and the Ed25519 test vectors of
draft-ietf-webbotauth-httpsig-protocol (dictionary and legacy ``Signature-Agent`` forms).
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gate.botauth import (
    BotAuthError,
    InnerList,
    Item,
    KeyDirectory,
    Token,
    check_replay,
    jwk_thumbprint,
    make_nonce,
    parse_dictionary,
    public_key_thumbprint,
    replay_key,
    serialize_member,
    sign_request,
    signature_base,
    verify,
)
from gate.errors import ConfigError, GateError
from gate.store import MemoryStore, Store

NOW = 1_700_000_000
HOST = "gate.example"

# RFC 9421 Appendix B.1.4 "test-key-ed25519" (private "d", public "x"), as a JWK.
TEST_KEY_D = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"
TEST_KEY_X = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
TEST_KEY_ID = "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwk(private: Ed25519PrivateKey) -> dict[str, str]:
    raw = private.public_key().public_bytes_raw()
    return {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).decode().rstrip("=")}


@pytest.fixture(scope="module")
def bot_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def directory(bot_key: Ed25519PrivateKey) -> KeyDirectory:
    return KeyDirectory.from_jwks({"keys": [_jwk(bot_key)]}, name="examplebot")


def _sign(key: Ed25519PrivateKey, **overrides: Any) -> dict[str, str]:
    args: dict[str, Any] = {
        "keyid": public_key_thumbprint(key.public_key()),
        "method": "GET",
        "authority": HOST,
        "path": "/articles/1",
        "headers": {},
        "created": NOW,
        "expires": NOW + 60,
        "nonce": make_nonce(),
        "components": ("@authority", "@method", "@path"),
        "signature_agent": "https://bot.example",
    }
    args.update(overrides)
    return sign_request(key, **args)


def _verify(headers: dict[str, str], directory: KeyDirectory, **overrides: Any) -> Any:
    request: dict[str, Any] = {
        "method": "GET",
        "authority": HOST,
        "path": "/articles/1",
        "query": "",
        "headers": headers,
        "directory": directory,
        "now": NOW + 1,
    }
    request.update(overrides)
    return verify(**request)


def _reason(headers: dict[str, str], directory: KeyDirectory, **overrides: Any) -> str:
    with pytest.raises(BotAuthError) as caught:
        _verify(headers, directory, **overrides)
    return caught.value.reason


# --- valid signatures --------------------------------------------------------------------------


def test_a_valid_signature_names_the_bot(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    headers = _sign(bot_key)
    signed = _verify(headers, directory)
    assert signed.name == "examplebot"
    assert signed.keyid == public_key_thumbprint(bot_key.public_key())
    assert signed.created == NOW and signed.expires == NOW + 60
    assert signed.nonce and signed.agent == "https://bot.example"
    assert signed.components == (
        '"@authority"',
        '"@method"',
        '"@path"',
        '"signature-agent";key="sig1"',
    )
    assert isinstance(signed.nonce, str)


def test_header_names_are_case_insensitive_and_default_port_is_ignored(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    headers = {name.lower(): value for name, value in _sign(bot_key).items()}
    assert _verify(headers, directory, authority="GATE.example:443").name == "examplebot"


def test_signed_query_and_plain_header_fields_verify(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    signed = _sign(
        bot_key,
        query="q=1&r=2",
        headers={"Content-Type": "application/json"},
        components=("@authority", "@query", "@target-uri", "content-type"),
    )
    headers = {**signed, "content-type": "  application/json "}
    assert _verify(headers, directory, query="q=1&r=2").name == "examplebot"
    assert _reason(headers, directory, query="q=1&r=3") == "bad_signature"


def test_the_web_bot_auth_signature_is_picked_among_several(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    ours = _sign(bot_key, label="wba")
    headers = {
        "Signature-Agent": ours["Signature-Agent"],
        "Signature-Input": 'other=("@method");created=1;keyid="x", ' + ours["Signature-Input"],
        "Signature": "other=:AAAA:, " + ours["Signature"],
    }
    assert _verify(headers, directory).label == "wba"


# --- refusals, each with its reason ------------------------------------------------------------


def test_tampered_signature_is_refused(bot_key: Ed25519PrivateKey, directory: KeyDirectory) -> None:
    headers = _sign(bot_key)
    label, raw = headers["Signature"].split("=", 1)
    sig = bytearray(base64.b64decode(raw.strip(":")))
    sig[0] ^= 1
    headers["Signature"] = f"{label}=:{base64.b64encode(bytes(sig)).decode()}:"
    assert _reason(headers, directory) == "bad_signature"


def test_a_signature_for_another_authority_path_or_agent_is_refused(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    headers = _sign(bot_key)
    assert _reason(headers, directory, authority="other.example") == "bad_signature"
    assert _reason(headers, directory, path="/articles/2") == "bad_signature"
    assert _reason(headers, directory, method="POST") == "bad_signature"
    moved = {**headers, "Signature-Agent": 'sig1="https://evil.example"'}
    assert _reason(moved, directory) == "bad_signature"


def test_unknown_key_is_refused(directory: KeyDirectory) -> None:
    stranger = Ed25519PrivateKey.generate()
    assert _reason(_sign(stranger), directory) == "unknown_key"


def test_a_known_keyid_with_another_key_is_a_bad_signature(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    impostor = Ed25519PrivateKey.generate()
    headers = _sign(impostor, keyid=public_key_thumbprint(bot_key.public_key()))
    assert _reason(headers, directory) == "bad_signature"


def test_expired_signature_is_refused(bot_key: Ed25519PrivateKey, directory: KeyDirectory) -> None:
    headers = _sign(bot_key, created=NOW - 120, expires=NOW - 60)
    assert _reason(headers, directory) == "expired"
    # The clock skew allowance applies to expiry too, and no further.
    fresh = _sign(bot_key, created=NOW - 60, expires=NOW)
    assert _verify(fresh, directory, now=NOW + 29).name == "examplebot"
    assert _reason(fresh, directory, now=NOW + 30) == "expired"


def test_a_signature_from_the_future_is_not_yet_valid(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    headers = _sign(bot_key, created=NOW + 600, expires=NOW + 700)
    assert _reason(headers, directory) == "not_yet_valid"


def test_windows_longer_than_allowed_are_refused(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    headers = _sign(bot_key, expires=NOW + 2 * 86_400)
    assert _reason(headers, directory) == "window_too_long"
    assert _verify(headers, directory, max_window=3 * 86_400).name == "examplebot"


def test_without_expires_created_must_be_recent(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    headers = _sign(bot_key)
    label, covered = next(iter(parse_dictionary(headers["Signature-Input"]).items()))
    assert isinstance(covered, InnerList)
    params = {k: v for k, v in covered.params.items() if k != "expires"}
    stripped = InnerList(covered.items, params)
    base = signature_base(
        stripped,
        method="GET",
        authority=HOST,
        path="/articles/1",
        headers={"Signature-Agent": headers["Signature-Agent"]},
    )
    resigned = {
        **headers,
        "Signature-Input": f"{label}={serialize_member(stripped)}",
        "Signature": f"{label}=:{base64.b64encode(bot_key.sign(base)).decode()}:",
    }
    assert _reason(resigned, directory) == "missing_parameter"
    assert _verify(resigned, directory, require_expires=False, now=NOW + 299).expires is None
    assert _reason(resigned, directory, require_expires=False, now=NOW + 400) == "expired"


def test_missing_or_wrong_tag_is_refused(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    assert _reason(_sign(bot_key, tag="something-else"), directory) == "wrong_tag"
    headers = _sign(bot_key)
    headers["Signature-Input"] = headers["Signature-Input"].replace(';tag="web-bot-auth"', "")
    assert _reason(headers, directory) == "wrong_tag"


def test_authority_must_be_covered(bot_key: Ed25519PrivateKey, directory: KeyDirectory) -> None:
    headers = _sign(bot_key, components=("@method", "@path"))
    assert _reason(headers, directory) == "missing_component"


def test_a_present_signature_agent_must_be_covered(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    headers = _sign(bot_key, signature_agent=None)
    assert _verify(headers, directory).agent is None
    headers["Signature-Agent"] = 'sig1="https://bot.example"'
    assert _reason(headers, directory) == "missing_component"


def test_a_covered_header_that_is_absent_is_a_missing_component(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    headers = _sign(
        bot_key, headers={"x-purpose": "search"}, components=("@authority", "x-purpose")
    )
    assert _reason(headers, directory) == "missing_component"
    assert _verify({**headers, "X-Purpose": "search"}, directory).name == "examplebot"


def test_missing_headers_are_reported_as_missing(directory: KeyDirectory) -> None:
    assert _reason({}, directory) == "missing"
    assert _reason({"Signature": "sig1=:AAAA:"}, directory) == "missing"


@pytest.mark.parametrize(
    ("signature_input", "signature"),
    [
        ("sig1=(", "sig1=:AAAA:"),  # unterminated inner list
        ('sig1=("@authority");tag="web-bot-auth",', "sig1=:AAAA:"),  # trailing comma
        ('sig1=("@authority");tag="web-bot-auth"', "sig1=:not base64!:"),  # bad byte sequence
        ('sig1=("@authority");tag="web-bot-auth"', 'sig1="a string"'),  # signature not bytes
        ('sig1=("@authority");tag="web-bot-auth"', "sig2=:AAAA:"),  # no signature for the label
        ('sig1=("@authority");tag="web-bot-auth";created="1"', "sig1=:AAAA:"),  # created a string
        (
            'sig1=("@authority");tag="web-bot-auth";created=1;expires=2;keyid=tok',
            "sig1=:AAAA:",
        ),  # keyid a token
        ('sig1=("@authority");tag="web-bot-auth";created=1;é', "sig1=:AAAA:"),  # non-ASCII
    ],
)
def test_malformed_headers_are_refused(
    directory: KeyDirectory, signature_input: str, signature: str
) -> None:
    headers = {"Signature-Input": signature_input, "Signature": signature}
    assert _reason(headers, directory) == "malformed"


def test_missing_parameters_and_other_algorithms_are_refused(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    headers = _sign(bot_key)
    no_nonce = headers["Signature-Input"].split(";nonce=")[0] + ';tag="web-bot-auth"'
    assert _reason({**headers, "Signature-Input": no_nonce}, directory) == "missing_parameter"
    other_alg = headers["Signature-Input"].replace('alg="ed25519"', 'alg="rsa-pss-sha512"')
    assert _reason({**headers, "Signature-Input": other_alg}, directory) == "unsupported_alg"


def test_duplicate_and_unsupported_components_are_refused(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    # The signer refuses both, so the Signature-Input is edited by hand (a forger's view).
    headers = _sign(bot_key)
    twice = headers["Signature-Input"].replace('("@authority"', '("@authority" "@authority"')
    assert _reason({**headers, "Signature-Input": twice}, directory) == "malformed"
    status = headers["Signature-Input"].replace('("@authority"', '("@authority" "@status"')
    assert _reason({**headers, "Signature-Input": status}, directory) == "unsupported_component"
    with pytest.raises(BotAuthError, match="malformed"):
        _sign(bot_key, components=("@authority", "@authority"))


def test_errors_are_gate_errors() -> None:
    assert issubclass(BotAuthError, GateError)
    assert BotAuthError("expired").reason == "expired"


# --- replay ------------------------------------------------------------------------------------


async def test_a_nonce_is_accepted_once_then_refused_as_replayed(
    store: Store, bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    headers = _sign(bot_key)
    first = _verify(headers, directory)
    await check_replay(store, first)
    again = _verify(headers, directory, now=NOW + 2)
    with pytest.raises(BotAuthError) as caught:
        await check_replay(store, again)
    assert caught.value.reason == "replayed"
    # Another nonce from the same bot is fine.
    await check_replay(store, _verify(_sign(bot_key), directory))


async def test_nonces_are_scoped_per_key(
    directory: KeyDirectory, bot_key: Ed25519PrivateKey
) -> None:
    other = Ed25519PrivateKey.generate()
    both = KeyDirectory([*directory, *KeyDirectory.from_jwks({"keys": [_jwk(other)]}, name="b")])
    store = MemoryStore()
    nonce = make_nonce()
    await check_replay(store, _verify(_sign(bot_key, nonce=nonce), both))
    await check_replay(store, _verify(_sign(other, nonce=nonce), both))


async def test_the_replay_record_lives_until_the_signature_stops_verifying(
    bot_key: Ed25519PrivateKey, directory: KeyDirectory
) -> None:
    from gate.clock import ManualClock

    clock = ManualClock(NOW + 1)
    store = MemoryStore(clock=clock)
    headers = _sign(bot_key)  # expires NOW + 60, +30 s skew
    signed = _verify(headers, directory)
    assert signed.valid_until == NOW + 90
    await check_replay(store, signed)
    clock.advance(88)
    with pytest.raises(BotAuthError):
        await check_replay(store, _verify(headers, directory, now=clock()))
    assert replay_key(signed).startswith(f"botauth:nonce:{signed.keyid}:")


# --- key directory -----------------------------------------------------------------------------


def test_thumbprint_matches_rfc_8037_appendix_a3() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    # Extra members (kid, use, alg) do not change a thumbprint.
    assert jwk_thumbprint({**jwk, "kid": "x", "use": "sig"}) == jwk_thumbprint(jwk)


def test_directory_loads_jwks_files_and_names_bots(tmp_path: Path) -> None:
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    (tmp_path / "crawler-one.json").write_text(json.dumps({"keys": [_jwk(first)]}))
    (tmp_path / "two.json").write_text(
        json.dumps({"name": "Second Agent", "keys": [{**_jwk(second), "kid": "ignored"}]})
    )
    (tmp_path / "notes.txt").write_text("not a key")
    loaded = KeyDirectory.load(tmp_path)
    assert len(loaded) == 2
    first_key = loaded.get(public_key_thumbprint(first.public_key()))
    second_key = loaded.get(public_key_thumbprint(second.public_key()))
    assert first_key is not None and first_key.name == "crawler-one"
    assert second_key is not None and second_key.name == "Second Agent"


@pytest.mark.parametrize(
    ("jwk", "message"),
    [
        ({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}, "only Ed25519"),
        ({"kty": "RSA", "n": "AQAB", "e": "AQAB"}, "only Ed25519"),
        ({"kty": "OKP", "crv": "X25519", "x": TEST_KEY_X}, "only Ed25519"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "c2hvcnQ"}, "32 bytes"),
        ({"kty": "OKP", "crv": "Ed25519", "x": TEST_KEY_X + "="}, "32 bytes"),
        ({"kty": "OKP", "crv": "Ed25519", "x": TEST_KEY_X, "d": TEST_KEY_D}, "private key"),
        ({"kty": "OKP", "crv": "Ed25519", "x": TEST_KEY_X, "use": "enc"}, "'use'"),
        ({"kty": "OKP", "crv": "Ed25519", "x": TEST_KEY_X}, "test key"),
    ],
)
def test_directory_refuses_unusable_keys(jwk: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KeyDirectory.from_jwks({"keys": [jwk]}, name="bad")


def test_directory_refuses_bad_files_and_shared_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        KeyDirectory.load(tmp_path / "absent")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match=r"broken\.json"):
        KeyDirectory.load(tmp_path)
    (tmp_path / "broken.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ConfigError, match="JWK Set"):
        KeyDirectory.load(tmp_path)
    shared = _jwk(Ed25519PrivateKey.generate())
    (tmp_path / "broken.json").write_text(json.dumps({"keys": [shared]}))
    (tmp_path / "other.json").write_text(json.dumps({"keys": [shared]}))
    with pytest.raises(ConfigError, match="claimed by both"):
        KeyDirectory.load(tmp_path)


def test_keys_outside_their_nbf_exp_are_unknown(bot_key: Ed25519PrivateKey) -> None:
    jwk = {**_jwk(bot_key), "nbf": NOW - 10, "exp": NOW + 10}
    limited = KeyDirectory.from_jwks({"keys": [jwk]}, name="limited")
    headers = _sign(bot_key)
    assert _verify(headers, limited).name == "limited"
    assert _reason(headers, limited, now=NOW + 11) == "unknown_key"


# --- published test vectors --------------------------------------------------------------------


def test_rfc_9421_b_2_6_ed25519_signature_base_and_signature() -> None:
    """RFC 9421 Appendix B.2.6: exact signature base, and the published signature verifies."""
    signature_input = (
        'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
        ';created=1618884473;keyid="test-key-ed25519"'
    )
    signature = (
        "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
    )
    covered = parse_dictionary(signature_input)["sig-b26"]
    assert isinstance(covered, InnerList)
    base = signature_base(
        covered,
        method="POST",
        authority="example.com",
        path="/foo",
        query="param=Value&Pet=dog",
        headers={
            "Host": "example.com",
            "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
            "Content-Type": "application/json",
            "Content-Length": "18",
        },
    )
    assert base.decode() == "\n".join(
        [
            '"date": Tue, 20 Apr 2021 02:07:55 GMT',
            '"@method": POST',
            '"@path": /foo',
            '"@authority": example.com',
            '"content-type": application/json',
            '"content-length": 18',
            '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" '
            '"content-length");created=1618884473;keyid="test-key-ed25519"',
        ]
    )
    private = Ed25519PrivateKey.from_private_bytes(_b64url_decode(TEST_KEY_D))
    private.public_key().verify(base64.b64decode(signature), base)  # raises if wrong
    assert base64.b64encode(private.sign(base)).decode() == signature  # Ed25519 is deterministic


WBA_DICTIONARY_VECTOR = {
    "Signature-Agent": 'agent2="https://signature-agent.test"',
    "Signature-Input": (
        'sig2=("@authority" "signature-agent";key="agent2");created=1735689600'
        f';keyid="{TEST_KEY_ID}";alg="ed25519";expires=4889289600'
        ';nonce="n9p433xm+NJ3ph3upfBIGmsuwHw387YV7Q/F+6BSpGCVjYCqQw6rznNA8PVVLySrAWsv0hQtFioQb6E1YsauiA=="'
        ';tag="web-bot-auth"'
    ),
    "Signature": "sig2=:RdNFx5Bj6au3YgAMQL/RzmUlZE8QZLIaXGRpw985hWnwPfMxT228NMk6ehRS1PSl4e8PhbNZACSanGdhEwYCCg==:",
}

WBA_LEGACY_VECTOR = {
    "Signature-Agent": '"https://signature-agent.test"',
    "Signature-Input": (
        'sig2=("@authority" "signature-agent");created=1735689600'
        f';keyid="{TEST_KEY_ID}";alg="ed25519";expires=1735693200'
        ';nonce="e8N7S2MFd/qrd6T2R3tdfAuuANngKI7LFtKYI/vowzk4lAZYadIX6wW25MwG7DCT9RUKAJ0qVkU0mEeLElW1qg=="'
        ';tag="web-bot-auth"'
    ),
    "Signature": "sig2=:jdq0SqOwHdyHr9+r5jw3iYZH6aNGKijYp/EstF4RQTQdi5N5YYKrD+mCT1HA1nZDsi6nJKuHxUi/5Syp3rLWBA==:",
}


@pytest.fixture(scope="module")
def test_key_directory() -> KeyDirectory:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": TEST_KEY_X}
    return KeyDirectory.from_jwks({"keys": [jwk]}, name="rfc9421-test", allow_test_keys=True)


@pytest.mark.parametrize(
    "vector", [WBA_DICTIONARY_VECTOR, WBA_LEGACY_VECTOR], ids=["dict", "legacy"]
)
def test_web_bot_auth_draft_ed25519_vectors_verify(
    vector: dict[str, str], test_key_directory: KeyDirectory
) -> None:
    """draft-ietf-webbotauth-httpsig-protocol, "EdDSA Using Curve edwards25519" test vectors."""
    signed = verify(
        "GET",
        "example.com",
        "/path/to/resource",
        "",
        vector,
        test_key_directory,
        now=1_735_689_600,
        max_window=math.inf,  # the dictionary vector expires in 2124
    )
    assert signed.name == "rfc9421-test"
    assert signed.keyid == TEST_KEY_ID
    assert signed.agent == "https://signature-agent.test"
    tampered = {**vector, "Signature-Agent": vector["Signature-Agent"].replace(".test", ".evil")}
    with pytest.raises(BotAuthError, match="bad_signature"):
        verify(
            "GET",
            "example.com",
            "/",
            "",
            tampered,
            test_key_directory,
            now=1_735_689_600,
            max_window=math.inf,
        )


def test_sign_request_reproduces_the_draft_vector_byte_for_byte() -> None:
    private = Ed25519PrivateKey.from_private_bytes(_b64url_decode(TEST_KEY_D))
    assert public_key_thumbprint(private.public_key()) == TEST_KEY_ID
    nonce = parse_dictionary(WBA_DICTIONARY_VECTOR["Signature-Input"])["sig2"].params["nonce"]
    assert isinstance(nonce, str)
    produced = sign_request(
        private,
        TEST_KEY_ID,
        "GET",
        "example.com",
        "/path/to/resource",
        {},
        created=1735689600,
        expires=4889289600,
        nonce=nonce,
        label="sig2",
        signature_agent="https://signature-agent.test",
        agent_key="agent2",
    )
    assert produced == WBA_DICTIONARY_VECTOR


# --- structured fields -------------------------------------------------------------------------


def test_structured_field_round_trips() -> None:
    text = 'a=(1 2.5 "x\\"y" tok :AAE=: ?0);p, b;q=?1, c=*t/k:v'
    parsed = parse_dictionary(text)
    assert parsed["a"] == InnerList(
        (Item(1), Item(2.5), Item('x"y'), Item(Token("tok")), Item(b"\x00\x01"), Item(False)),
        {"p": True},
    )
    assert parsed["b"] == Item(True, {"q": True})
    token = parsed["c"]
    assert isinstance(token, Item) and isinstance(token.value, Token) and token.value == "*t/k:v"
    assert serialize_member(parsed["a"]) == '(1 2.5 "x\\"y" tok :AAE=: ?0);p'
    assert parse_dictionary("  a=1 ,\tb=2  ") == {"a": Item(1), "b": Item(2)}
    for bad in ("A=1", "a=1234567890123456", "a=1.2345", 'a="\x01"', "a=@1", "a=(1)x"):
        with pytest.raises(ValueError):
            parse_dictionary(bad)
