import asyncio

import pytest

from gate.challenges import ChallengeService, Terms
from gate.errors import ChallengeGone, ChallengeMismatch, WrongAnswer
from gate.keys import KeyRing
from gate.ledger import read_ledger
from gate.passes import PassCodec
from gate.store import Store
from tests.support import FixedWordSource

TERMS = Terms(subject="net:192.0.2.0/24", scope="http:/api/", rule="r", budget=3, pass_ttl=60)


def service(store: Store, source: FixedWordSource, **kwargs: int) -> ChallengeService:
    return ChallengeService(store, source, PassCodec(KeyRing.generate()), **kwargs)


async def test_a_correct_answer_mints_a_bound_pass_and_updates_the_ledger(store: Store) -> None:
    source = FixedWordSource()
    challenges = service(store, source)
    issued = await challenges.issue(TERMS, price=500, tier=2)
    minted = await challenges.solve(issued.challenge_id, TERMS.subject, [source.issued[-1].upper()])
    assert minted.claims.subject == TERMS.subject and minted.claims.budget == 3
    assert minted.claims.price == issued.price
    ledger = await read_ledger(store, TERMS.subject)
    assert (ledger.issued, ledger.solved, ledger.failed, ledger.tokens_paid) == (
        1,
        1,
        0,
        issued.price,
    )


async def test_a_challenge_is_single_use(store: Store) -> None:
    source = FixedWordSource()
    challenges = service(store, source)
    issued = await challenges.issue(TERMS, price=500, tier=2)
    await challenges.solve(issued.challenge_id, TERMS.subject, [source.issued[-1]])
    with pytest.raises(ChallengeGone):
        await challenges.solve(issued.challenge_id, TERMS.subject, [source.issued[-1]])


async def test_wrong_answers_use_up_attempts_and_never_reveal_the_answer(store: Store) -> None:
    source = FixedWordSource()
    challenges = service(store, source, max_attempts=3)
    issued = await challenges.issue(TERMS, price=500, tier=2)
    word = source.issued[-1]
    for left in (2, 1, 0):
        with pytest.raises(WrongAnswer) as caught:
            await challenges.solve(issued.challenge_id, TERMS.subject, ["wrong"])
        assert caught.value.attempts_left == left
        assert word not in str(caught.value) and word not in repr(caught.value)
    with pytest.raises(ChallengeGone):  # even the right answer is too late now
        await challenges.solve(issued.challenge_id, TERMS.subject, [word])
    assert (await read_ledger(store, TERMS.subject)).failed == 3


async def test_another_identity_cannot_solve_someone_elses_challenge(store: Store) -> None:
    source = FixedWordSource()
    challenges = service(store, source)
    issued = await challenges.issue(TERMS, price=500, tier=2)
    for _ in range(10):  # strangers who learn the id cannot burn the owner's attempts
        with pytest.raises(ChallengeMismatch):
            await challenges.solve(issued.challenge_id, "net:198.51.100.0/24", [source.issued[-1]])
    await challenges.solve(issued.challenge_id, TERMS.subject, [source.issued[-1]])


async def test_the_store_never_holds_the_hidden_word(store: Store) -> None:
    source = FixedWordSource()
    challenges = service(store, source)
    issued = await challenges.issue(TERMS, price=3000, tier=2)
    raw = await store.get(f"challenge:{{{issued.challenge_id}}}")
    assert raw is not None
    assert all(word.encode() not in raw.lower() for word in source.issued)


async def test_every_gate_must_be_answered_in_order(store: Store) -> None:
    source = FixedWordSource()
    challenges = service(store, source)
    issued = await challenges.issue(TERMS, price=300 * 30, tier=2)
    gates = len(issued.puzzle.gates)
    assert gates >= 2
    words = source.issued[-gates:]
    with pytest.raises(WrongAnswer):
        await challenges.solve(issued.challenge_id, TERMS.subject, list(reversed(words)))
    with pytest.raises(WrongAnswer):
        await challenges.solve(issued.challenge_id, TERMS.subject, words[:-1])
    await challenges.solve(issued.challenge_id, TERMS.subject, words)


@pytest.mark.parametrize("max_attempts", [5, 100])
async def test_fifty_concurrent_correct_answers_mint_exactly_one_pass(
    store: Store, max_attempts: int
) -> None:
    source = FixedWordSource()
    challenges = service(store, source, max_attempts=max_attempts)
    issued = await challenges.issue(TERMS, price=500, tier=2)
    word = source.issued[-1]
    results = await asyncio.gather(
        *(challenges.solve(issued.challenge_id, TERMS.subject, [word]) for _ in range(50)),
        return_exceptions=True,
    )
    minted = [result for result in results if not isinstance(result, BaseException)]
    assert len(minted) == 1
    assert all(isinstance(result, ChallengeGone) for result in results if result not in minted)
    assert (await read_ledger(store, TERMS.subject)).solved == 1


@pytest.mark.parametrize("challenge_id", ["", "../../etc", "x" * 22 + "\n", "a" * 500])
async def test_malformed_challenge_ids_are_gone(store: Store, challenge_id: str) -> None:
    with pytest.raises(ChallengeGone):
        await service(store, FixedWordSource()).solve(challenge_id, TERMS.subject, ["a"])
