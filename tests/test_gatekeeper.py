import pytest

from gate.clock import ManualClock
from gate.errors import ConfigError
from gate.gatekeeper import Allow, Challenge, Deny, Gatekeeper, GateSettings, Throttle, Visitor
from gate.keys import KeyRing
from gate.ledger import read_ledger
from gate.passes import PassCodec
from gate.pricing import RateCurve
from gate.rules import Action, Rule, RuleSet, Verdict
from gate.store import MemoryStore, Store
from tests.support import FixedWordSource

RULES = RuleSet([Rule("/paid/", price=600, budget=2), Rule("/closed/", action=Action.DENY)])
ALICE = "192.0.2.10"


def keeper(
    store: Store, rules: RuleSet = RULES, clock: ManualClock | None = None, **settings: object
):
    source = FixedWordSource()
    clock = clock or ManualClock()
    codec = PassCodec(KeyRing.generate(), clock=clock)
    return Gatekeeper(store, source, codec, rules, GateSettings(**settings), clock=clock), source  # type: ignore[arg-type]


async def pay(
    gk: Gatekeeper, source: FixedWordSource, peer: str = ALICE, path: str = "/paid/a"
) -> str:
    decision = await gk.decide(Visitor(path=path, peer=peer))
    assert isinstance(decision, Challenge)
    gates = len(decision.challenge.puzzle.gates)
    minted = await gk.solve(
        decision.challenge.challenge_id, Visitor(path=path, peer=peer), source.issued[-gates:]
    )
    return minted.token


async def test_free_and_denied_paths_never_touch_the_store() -> None:
    gk, _ = keeper(MemoryStore())
    assert isinstance(await gk.decide(Visitor(path="/free", peer=ALICE)), Allow)
    assert isinstance(await gk.decide(Visitor(path="/closed/x", peer=ALICE)), Deny)


async def test_a_pass_pays_until_its_budget_is_spent_then_the_client_is_challenged_again(
    store: Store,
) -> None:
    gk, source = keeper(store)
    token = await pay(gk, source)
    first = await gk.decide(Visitor(path="/paid/a", peer=ALICE, tokens=(token,)))
    second = await gk.decide(Visitor(path="/paid/b", peer=ALICE, tokens=(token,)))
    third = await gk.decide(Visitor(path="/paid/c", peer=ALICE, tokens=(token,)))
    assert isinstance(first, Allow) and first.remaining == 1
    assert isinstance(second, Allow) and second.remaining == 0
    assert isinstance(third, Challenge) and third.reason == "exhausted"
    ledger = await read_ledger(store, gk.identity(Visitor(path="/", peer=ALICE)))
    assert (ledger.served, ledger.solved, ledger.issued) == (2, 1, 2)


async def test_a_pass_is_bound_to_the_client_network(store: Store) -> None:
    gk, source = keeper(store)
    token = await pay(gk, source)
    same_network = await gk.decide(Visitor(path="/paid/a", peer="192.0.2.99", tokens=(token,)))
    elsewhere = await gk.decide(Visitor(path="/paid/a", peer="198.51.100.1", tokens=(token,)))
    assert isinstance(same_network, Allow)
    assert isinstance(elsewhere, Challenge) and elsewhere.reason == "not_applicable"


async def test_a_rule_change_re_challenges_existing_passes() -> None:
    store = MemoryStore()
    gk, source = keeper(store)
    token = await pay(gk, source)
    gk.rules = RuleSet([Rule("/paid/", price=900, budget=2)])
    decision = await gk.decide(Visitor(path="/paid/a", peer=ALICE, tokens=(token,)))
    assert isinstance(decision, Challenge) and decision.reason == "not_applicable"


async def test_an_expired_pass_is_challenged() -> None:
    clock = ManualClock()
    gk, source = keeper(
        MemoryStore(clock=clock), RuleSet([Rule("/paid/", price=600, pass_ttl=30)]), clock
    )
    token = await pay(gk, source)
    clock.advance(31)
    decision = await gk.decide(Visitor(path="/paid/a", peer=ALICE, tokens=(token,)))
    assert isinstance(decision, Challenge) and decision.reason == "expired"


async def test_the_first_usable_of_several_passes_pays() -> None:
    gk, source = keeper(MemoryStore())
    token = await pay(gk, source)
    decision = await gk.decide(Visitor(path="/paid/a", peer=ALICE, tokens=("garbage", token)))
    assert isinstance(decision, Allow)


async def test_a_fast_client_pays_more_and_a_flood_is_told_how_long_to_wait() -> None:
    clock = ManualClock(start=6_000.0)
    curve = RateCurve.parse("0:1,5:1,10:4")
    gk, source = keeper(MemoryStore(clock=clock), clock=clock, curve=curve, max_price=2_000)
    prices = []
    for _ in range(12):
        decision = await gk.decide(Visitor(path="/paid/a", peer=ALICE))
        if isinstance(decision, Challenge):
            prices.append(decision.challenge.price)
            # Solved, so the next request is priced afresh (an unsolved one is asked again).
            gates = len(decision.challenge.puzzle.gates)
            await gk.solve(
                decision.challenge.challenge_id,
                Visitor(path="/paid/a", peer=ALICE),
                source.issued[-gates:],
            )
            clock.advance(1)
        else:
            assert isinstance(decision, Throttle) and decision.price > 2_000
            break
    else:
        pytest.fail("the flood was never throttled")
    assert prices[0] < prices[-1]
    # A different client is unaffected.
    other = await gk.decide(Visitor(path="/paid/a", peer="198.51.100.1"))
    assert isinstance(other, Challenge) and other.challenge.price == prices[0]
    # Waiting as long as Retry-After says is enough (every request counts, throttled or not).
    clock.advance(decision.retry_after)
    after = await gk.decide(Visitor(path="/paid/a", peer=ALICE))
    assert isinstance(after, Challenge)


async def test_prices_beyond_what_one_puzzle_can_hold_are_throttled_not_failed() -> None:
    curve = RateCurve.parse("0:10")  # ten times the base price from the first request
    gk, _ = keeper(MemoryStore(), RuleSet([Rule("/paid/", price=3_000)]), curve=curve)
    decision = await gk.decide(Visitor(path="/paid/a", peer=ALICE))
    assert isinstance(decision, Throttle) and decision.price == 30_000


def test_a_rule_no_single_challenge_can_pay_for_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="exceeds what one challenge can cost"):
        keeper(MemoryStore(), RuleSet([Rule("/paid/", price=10**6)]))


async def test_a_free_allowance_lets_slow_clients_through_without_paying() -> None:
    clock = ManualClock(start=6_000.0)
    rules = RuleSet([Rule("/paid/", price=600, free_per_window=3)])
    gk, _ = keeper(MemoryStore(clock=clock), rules, clock)
    decisions = [await gk.decide(Visitor(path="/paid/a", peer=ALICE)) for _ in range(4)]
    assert [type(d).__name__ for d in decisions] == ["Allow", "Allow", "Allow", "Challenge"]
    clock.advance(130)  # two windows later the rate has decayed
    assert isinstance(await gk.decide(Visitor(path="/paid/a", peer=ALICE)), Allow)


async def test_people_get_an_easier_tier_than_programs() -> None:
    gk, _ = keeper(MemoryStore())
    person = await gk.decide(Visitor(path="/paid/a", peer=ALICE, human=True))
    program = await gk.decide(Visitor(path="/paid/a", peer="198.51.100.1"))
    assert isinstance(person, Challenge) and isinstance(program, Challenge)
    assert person.challenge.puzzle.tier < program.challenge.puzzle.tier


class _CountingStore:
    """Counts the store calls (round trips) the gatekeeper makes."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.trips = 0

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.trips += 1
            return attr(*args, **kwargs)

        return counted


async def test_a_dry_run_throttle_is_counted_in_the_round_trip_that_meters_it(
    store: Store,
) -> None:
    rule = Rule("/paid/", price=3_000)
    counting = _CountingStore(store)
    gk, _ = keeper(counting, RuleSet([rule]), curve=RateCurve.parse("0:10"))  # type: ignore[arg-type]
    decision = await gk.decide(Visitor(path="/paid/a", peer=ALICE), Verdict(rule, "beta", True))
    assert isinstance(decision, Allow) and decision.dry_run == "throttle"
    # One round trip reads the rate, one records the throttle with its dry-run counters.
    assert counting.trips == 2
    assert await store.get("dry-run:beta:throttle") == b"1"
    ledger = await read_ledger(store, gk.identity(Visitor(path="/", peer=ALICE)))
    assert ledger.throttled == 1
