"""Property tests for the parsers a client or operator feeds: whatever the input, each parser
answers with its own refusal (a ``GateError`` subclass, handled as a 4xx or a config error),
never with an exception the edge would turn into a 503 or a crash."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from gate.answers import normalize_answer, readable_answer
from gate.challenges import ChallengeService
from gate.errors import ChallengeGone, ConfigError, PassError, StateInvalid
from gate.keys import KeyRing
from gate.passes import PassCodec
from gate.policy import parse_policy
from gate.sealing import Sealer
from gate.store import MemoryStore
from tests.support import FixedWordSource

KEYS = KeyRing.generate()
CODEC = PassCodec(KEYS)
SEALER = Sealer(KEYS, "test")
_TOKENISH = st.one_of(
    st.text(max_size=200),
    st.lists(st.text(alphabet="AZaz09-_=.", max_size=40), min_size=1, max_size=6).map(".".join),
    st.lists(st.text(alphabet="AZaz09-_", max_size=40), max_size=3).map(
        lambda parts: ".".join(["rg1", *parts])
    ),
)


@given(_TOKENISH)
@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
def test_a_pass_parser_refuses_with_pass_errors_only(text: str) -> None:
    with contextlib.suppress(PassError):
        CODEC.verify(text)


@given(_TOKENISH)
@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
def test_the_sealed_state_parser_refuses_with_state_invalid_only(text: str) -> None:
    with contextlib.suppress(StateInvalid):
        SEALER.unseal(text)


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_challenge_ids_of_any_shape_are_simply_gone(text: str) -> None:
    challenges = ChallengeService(MemoryStore(), FixedWordSource(), CODEC)

    async def probe() -> None:
        for call in (challenges.view(text), challenges.solve(text, "net:x", ["w"])):
            with contextlib.suppress(ChallengeGone):
                await call

    asyncio.run(probe())


@given(st.text(max_size=300))
@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
def test_the_answer_normaliser_is_idempotent_and_keeps_only_letters(text: str) -> None:
    folded = normalize_answer(text)
    assert normalize_answer(folded) == folded
    assert all(ch.isalpha() for ch in folded)
    readable_answer(text)  # never raises


_YAML_SCALARS = st.one_of(st.integers(), st.text(max_size=20), st.booleans(), st.none())
_RULES = st.lists(
    st.dictionaries(
        st.sampled_from(
            ["name", "action", "match", "price", "budget", "pass_ttl", "weigh", "scope"]
        ),
        st.one_of(
            _YAML_SCALARS,
            st.dictionaries(
                st.sampled_from(["path", "method", "host", "headers", "network", "identity"]),
                _YAML_SCALARS,
                max_size=3,
            ),
        ),
        max_size=5,
    ),
    max_size=4,
)


@given(st.one_of(st.text(max_size=300), _RULES.map(lambda rules: {"rules": rules})))
@settings(max_examples=300, deadline=None)
def test_the_policy_parser_refuses_with_config_errors_only(document: object) -> None:
    import yaml

    text = document if isinstance(document, str) else yaml.safe_dump(document)
    with contextlib.suppress(ConfigError):
        parse_policy(text)
