"""One spelling per token: passes, sealed states and challenge ids accept the string the gate wrote
and nothing else (padding, stray characters or the unused low bits of the last base64 character
would give one token several names, defeating caches and revocation by string)."""

from __future__ import annotations

import base64
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate.challenges import ChallengeService, Terms
from gate.errors import ChallengeGone, PassInvalid, StateInvalid
from gate.keys import KeyRing, b64url, b64url_decode
from gate.passes import PassCodec
from gate.sealing import Sealer
from gate.store import MemoryStore
from tests.support import FixedWordSource

KEYS = KeyRing.generate()
_ALPHABET = string.ascii_letters + string.digits + "-_"


def _low_bit_variants(text: str) -> list[str]:
    """Other characters for the last one that the lenient decoder reads as the same bytes."""
    unused = {2: 4, 3: 2}.get(len(text) % 4, 0)  # 2 chars: 4 unused bits, 3 chars: 2
    if not unused:
        return []
    order = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    value = order.index(text[-1])
    return [text[:-1] + order[value ^ flip] for flip in range(1, 1 << unused)]


def _respellings(text: str) -> list[str]:
    padded = text + "=" * (-len(text) % 4)
    return [
        *_low_bit_variants(text),
        *([padded] if padded != text else []),
        text + "==",
        text[:1] + "\n" + text[1:],
        text[:1] + "!" + text[1:],
    ]


@given(st.binary(max_size=80))
@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
def test_b64url_round_trips_and_every_other_spelling_is_refused(data: bytes) -> None:
    text = b64url(data)
    assert b64url_decode(text) == data
    for other in _respellings(text):
        # the stdlib would accept most of these as the same bytes
        with pytest.raises(ValueError):
            b64url_decode(other)


@given(st.text(alphabet=_ALPHABET + "=!. \n", max_size=40))
@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
def test_b64url_decode_accepts_only_what_b64url_writes(text: str) -> None:
    try:
        data = b64url_decode(text)
    except ValueError:
        return
    assert b64url(data) == text


def test_the_stdlib_decoder_really_is_lenient() -> None:
    """What the strict decoder guards against (if this ever fails, the test above proves less)."""
    text = b64url(b"\x00\x01")
    other = _low_bit_variants(text)[0]
    assert base64.urlsafe_b64decode(other + "=") == b"\x00\x01"


def test_a_pass_has_one_spelling() -> None:
    codec = PassCodec(KEYS)
    token, _ = codec.mint(subject="net:x", scope="http:/a/", rule="r", budget=1, price=1, ttl=60)
    codec.verify(token)
    head, signature = token.rsplit(".", 1)
    version, kid, body = head.split(".")
    respelled = [f"{head}.{other}" for other in _respellings(signature)]
    respelled += [f"{version}.{kid}.{other}.{signature}" for other in _respellings(body)]
    assert respelled
    for other in respelled:
        with pytest.raises(PassInvalid):
            PassCodec(KEYS).verify(other)


def test_sealed_state_has_one_spelling() -> None:
    sealer = Sealer(KEYS, "test")
    token = sealer.seal({"n": 1}, 60)
    assert sealer.unseal(token)["n"] == 1
    head, signature = token.rsplit(".", 1)
    for other in _respellings(signature):
        with pytest.raises(StateInvalid):
            sealer.unseal(f"{head}.{other}")


async def test_a_challenge_id_has_one_spelling() -> None:
    source = FixedWordSource()
    challenges = ChallengeService(MemoryStore(), source, PassCodec(KEYS))
    terms = Terms(subject="net:x", scope="http:/a/", rule="r", budget=1, pass_ttl=60)
    issued = await challenges.issue(terms, price=500, tier=2)
    for other in _respellings(issued.challenge_id):
        with pytest.raises(ChallengeGone):
            await challenges.view(other)
        with pytest.raises(ChallengeGone):
            await challenges.solve(other, "net:x", [source.issued[-1]])
    assert (await challenges.solve(issued.challenge_id, "net:x", [source.issued[-1]])).token
