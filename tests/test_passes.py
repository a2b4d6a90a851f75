import pytest

from gate.clock import ManualClock
from gate.errors import PassExpired, PassInvalid, PassNotApplicable
from gate.keys import KeyRing, b64url, b64url_decode, load_keyring, write_private_key
from gate.passes import PassCodec, check_binding, scope_covers


def mint(codec: PassCodec, **overrides: object) -> str:
    fields = dict(
        subject="net:10.0.0.0/24", scope="http:/api/", rule="r1", budget=3, price=900, ttl=60
    )
    fields.update(overrides)
    token, _ = codec.mint(**fields)  # type: ignore[arg-type]
    return token


def test_a_minted_pass_verifies_and_carries_its_claims() -> None:
    codec = PassCodec(KeyRing.generate())
    claims = codec.verify(mint(codec))
    assert (claims.subject, claims.scope, claims.rule, claims.budget) == (
        "net:10.0.0.0/24",
        "http:/api/",
        "r1",
        3,
    )


def test_a_tampered_pass_is_refused() -> None:
    codec = PassCodec(KeyRing.generate())
    version, kid, body, signature = mint(codec).split(".")
    forged_body = b64url(b64url_decode(body).replace(b'"budget":3', b'"budget":9'))
    with pytest.raises(PassInvalid):
        codec.verify(".".join((version, kid, forged_body, signature)))
    with pytest.raises(PassInvalid):
        flipped = signature[:10] + ("B" if signature[10] == "A" else "A") + signature[11:]
        codec.verify(".".join((version, kid, body, flipped)))


def test_a_pass_signed_by_a_foreign_key_is_refused() -> None:
    ours, theirs = PassCodec(KeyRing.generate()), PassCodec(KeyRing.generate())
    with pytest.raises(PassInvalid):
        ours.verify(mint(theirs))


@pytest.mark.parametrize("token", ["", "rg1", "rg1.a.b.c", "rg2.a.b.c", "x" * 5000, "rg1.a.b.c.d"])
def test_garbage_is_refused_as_invalid(token: str) -> None:
    with pytest.raises(PassInvalid):
        PassCodec(KeyRing.generate()).verify(token)


def test_an_expired_pass_is_refused_even_when_cached() -> None:
    clock = ManualClock()
    codec = PassCodec(KeyRing.generate(), clock=clock)
    token = mint(codec, ttl=10)
    codec.verify(token)
    clock.advance(10)
    with pytest.raises(PassExpired):
        codec.verify(token)


def test_old_keys_keep_verifying_after_rotation(tmp_path) -> None:
    old_file, new_file = tmp_path / "old.pem", tmp_path / "new.pem"
    old_ring = load_keyring(old_file, create=True)
    token = mint(PassCodec(old_ring))
    write_private_key(new_file, KeyRing.generate().signing)
    rotated = load_keyring(new_file, (old_file,))
    assert rotated.kid != old_ring.kid
    assert PassCodec(rotated).verify(token).budget == 3
    assert (old_file.stat().st_mode & 0o777) == 0o600


def test_binding_checks_identity_scope_and_rule() -> None:
    codec = PassCodec(KeyRing.generate())
    claims = codec.verify(mint(codec))
    check_binding(claims, subject="net:10.0.0.0/24", scope="http:/api/", rule="r1")
    for wrong in ({"subject": "net:10.0.1.0/24"}, {"scope": "http:/other/"}, {"rule": "r2"}):
        args = {"subject": "net:10.0.0.0/24", "scope": "http:/api/", "rule": "r1", **wrong}
        with pytest.raises(PassNotApplicable):
            check_binding(claims, **args)


def test_http_scopes_cover_their_subpaths_and_tool_scopes_match_exactly() -> None:
    assert scope_covers("http:/api/", "http:/api/")
    assert scope_covers("http:/api/", "http:/api/v1/x")
    assert not scope_covers("http:/api/", "http:/apix")
    assert not scope_covers("mcp:search", "mcp:search2")
