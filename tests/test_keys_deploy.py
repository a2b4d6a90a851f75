"""Signing keys for deployments: keys from the environment, and rotation with overlap.

Rotation must keep two things working across the switch: passes minted with the old key (until
they expire) and challenges issued with the old key (their answer digests are keyed by it).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from gate.challenges import ChallengeService
from gate.cli import app
from gate.config import GateConfig
from gate.errors import ConfigError, PassInvalid, WrongAnswer
from gate.keys import KeyRing, load_keyring, public_key_text, write_private_key
from gate.passes import PassCodec
from gate.store import Store
from tests.support import FixedWordSource
from tests.test_challenges import TERMS

runner = CliRunner()


def mint(ring: KeyRing) -> str:
    token, _ = PassCodec(ring).mint(
        subject="net:10.0.0.0/24", scope="http:/", rule="r", budget=3, price=100, ttl=60
    )
    return token


def pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def seed_b64(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode()


def test_a_signing_key_from_the_environment_is_the_same_key_as_its_file(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    write_private_key(tmp_path / "k.pem", key)
    from_file = load_keyring(tmp_path / "k.pem")
    for text in (pem(key), seed_b64(key), seed_b64(key).replace("+", "-").replace("/", "_")):
        ring = load_keyring(None, signing_key=text)
        assert ring.kid == from_file.kid and ring.answer_key == from_file.answer_key


def test_a_malformed_key_is_refused_without_echoing_it() -> None:
    secret = "c2VjcmV0LWJ1dC1ub3QtYS1rZXk="  # base64, wrong length
    with pytest.raises(ConfigError) as caught:
        load_keyring(None, signing_key=secret)
    assert secret not in str(caught.value)
    with pytest.raises(ConfigError):
        load_keyring(
            None, signing_key="-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"
        )


def test_the_environment_names_one_signing_key_source_and_hides_it_from_reprs() -> None:
    with pytest.raises(ConfigError, match="not both"):
        GateConfig.from_env({"GATE_SIGNING_KEY": "x", "GATE_SIGNING_KEY_FILE": "/k.pem"})
    text = seed_b64(Ed25519PrivateKey.generate())
    config = GateConfig.from_env({"GATE_SIGNING_KEY": text, "GATE_VERIFY_KEYS": "a, b"})
    assert config.signing_key == text and config.verify_keys == ("a", "b")
    assert text not in repr(config)


def test_an_explicit_key_file_that_is_missing_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_keyring(tmp_path / "mounted-secret.pem")
    assert not (tmp_path / "mounted-secret.pem").exists()


def test_public_keys_from_the_environment_keep_old_passes_valid(tmp_path: Path) -> None:
    old = KeyRing.generate()
    token = mint(old)
    write_private_key(tmp_path / "old.pem", old.signing)
    printed = runner.invoke(app, ["keys", "public", str(tmp_path / "old.pem")])
    assert printed.exit_code == 0, printed.output
    kid, public = printed.output.split()
    assert kid == old.kid and public == public_key_text(old.signing.public_key())

    new_key = seed_b64(Ed25519PrivateKey.generate())
    rotated = load_keyring(None, signing_key=new_key, verify_keys=[public])
    assert PassCodec(rotated).verify(token).budget == 3
    with pytest.raises(PassInvalid):  # once the old key is dropped, its passes end
        PassCodec(load_keyring(None, signing_key=new_key)).verify(token)


async def test_rotation_keeps_passes_and_pending_challenges_of_the_old_key(
    tmp_path: Path, store: Store
) -> None:
    path = tmp_path / "signing-key.pem"
    before = load_keyring(path, create=True)
    token = mint(before)
    source = FixedWordSource()
    pending = await ChallengeService(store, source, PassCodec(before)).issue(
        TERMS, price=500, tier=2
    )

    result = runner.invoke(app, ["keys", "rotate", str(path)])
    assert result.exit_code == 0, result.output
    retired = path.with_name(f"signing-key.{before.kid}.retired.pem")
    assert retired.exists() and str(retired) in result.output.replace("\n", "")
    assert (path.stat().st_mode & 0o777) == 0o600 and (retired.stat().st_mode & 0o777) == 0o600

    after = load_keyring(path, (retired,))
    assert after.kid != before.kid
    assert PassCodec(after).verify(token).budget == 3
    switched = ChallengeService(store, source, PassCodec(after))
    minted = await switched.solve(pending.challenge_id, TERMS.subject, [source.issued[-1]])
    assert minted.token.split(".")[1] == after.kid  # new passes are signed with the new key

    # Without the retired key, a challenge issued under it can no longer be answered (fail closed).
    again = await ChallengeService(store, source, PassCodec(before)).issue(TERMS, price=500, tier=2)
    alone = ChallengeService(store, source, PassCodec(load_keyring(path)))
    with pytest.raises(WrongAnswer):
        await alone.solve(again.challenge_id, TERMS.subject, [source.issued[-1]])


def test_rotation_refuses_to_overwrite_a_retired_key(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    ring = load_keyring(path, create=True)
    path.with_name(f"k.{ring.kid}.retired.pem").write_text("taken")
    result = runner.invoke(app, ["keys", "rotate", str(path)])
    assert result.exit_code == 1 and load_keyring(path).kid == ring.kid


async def test_during_a_rolling_switch_each_replica_accepts_what_the_other_signs(
    store: Store,
) -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    # Step 2 half done: one replica signs with the new key, one still with the old; each has the
    # other's signing key as a verifier (from a file on one, from the environment on the other).
    switched = load_keyring(None, signing_key=pem(new), verify_keys=[pem(old)])
    waiting = load_keyring(None, signing_key=seed_b64(old), verify_keys=[pem(new)])
    source = FixedWordSource()
    for issuer, checker in ((switched, waiting), (waiting, switched)):
        issued = await ChallengeService(store, source, PassCodec(issuer)).issue(
            TERMS, price=500, tier=2
        )
        minted = await ChallengeService(store, source, PassCodec(checker)).solve(
            issued.challenge_id, TERMS.subject, [source.issued[-1]]
        )
        assert PassCodec(issuer).verify(minted.token).budget == TERMS.budget
