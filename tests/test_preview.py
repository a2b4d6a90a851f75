"""Price preview: what ``decide`` would answer, with no side effects (nothing counted, metered,
issued or measured), on both stores."""

from __future__ import annotations

from typing import Any

import pytest

from gate import metrics
from gate.clock import ManualClock
from gate.gatekeeper import (
    Allow,
    Challenge,
    Decision,
    Deny,
    Gatekeeper,
    GateSettings,
    Preview,
    Throttle,
    Visitor,
)
from gate.keys import KeyRing
from gate.overrides import IdentityOverride, effective
from gate.passes import PassCodec
from gate.policy import parse_policy
from gate.pricing import RateCurve
from gate.revocation import revoke_identity_passes
from gate.store import MemoryStore, RedisStore, Store
from tests.support import FixedWordSource

POLICY = """
tiers:
  partner: {discount: 0.25, free_per_window: 2}
rules:
  - name: closed
    match: {path: /admin/}
    action: deny
  - name: trial
    match: {path: /trial/}
    action: challenge
    price: 800
    dry_run: true
  - name: api
    match: {path: /api/}
    action: challenge
    price: 1000
    budget: 3
    free_per_window: 1
default: allow
"""
ALICE, BOB, CAROL = "192.0.2.10", "198.51.100.7", "203.0.113.5"


def keeper(store: Store, clock: ManualClock) -> tuple[Gatekeeper, FixedWordSource, list[int]]:
    source = FixedWordSource()
    codec = PassCodec(KeyRing.generate(), clock=clock)
    settings = GateSettings(
        curve=RateCurve(((0, 1.0), (3, 1.0), (6, 8.0), (9, 16.0))), max_price=6000
    )
    gk = Gatekeeper(store, source, codec, parse_policy(POLICY), settings, clock=clock)
    asked: list[int] = []
    issue = gk.challenges.issue

    async def recording_issue(*args: Any, **kwargs: Any) -> Any:  # records the asked price
        asked.append(kwargs["price"])
        return await issue(*args, **kwargs)

    gk.challenges.issue = recording_issue  # type: ignore[method-assign]
    return gk, source, asked


async def snapshot(store: Store) -> dict[str, Any]:
    """Every key and value the store holds (TTLs aside)."""
    if isinstance(store, MemoryStore):
        return {key: repr(entry.value) for key, entry in store._data.items()}
    assert isinstance(store, RedisStore)
    client, prefix = store._client, store._prefix
    state: dict[str, Any] = {}
    async for key in client.scan_iter(match=f"{prefix}*", count=1000):
        kind = (await client.type(key)).decode()
        state[key.decode()] = await client.hgetall(key) if kind == "hash" else await client.get(key)
    return state


def requests_counted() -> float:
    return sum(
        sample.value
        for family in metrics.REGISTRY.collect()
        for sample in family.samples
        if sample.name.startswith("gate_requests")
    )


def agrees(preview: Preview, decision: Decision, asked: list[int]) -> None:
    if isinstance(decision, Allow) and decision.dry_run is not None:
        assert preview.dry_run and preview.action == decision.dry_run
    elif isinstance(decision, Allow):
        assert preview.action == "allow" and not (preview.dry_run and preview.action != "allow")
    elif isinstance(decision, Deny):
        assert preview.action == "deny"
    elif isinstance(decision, Throttle):
        assert preview.action == "throttle"
        assert (preview.price_tokens, preview.retry_after) == (decision.price, decision.retry_after)
    else:
        assert isinstance(decision, Challenge)
        assert preview.action == "challenge" and preview.price_tokens == asked[-1]
        # What a fresh puzzle asks (its cost in whole clues) is what the preview shows; a client
        # asking again is shown its outstanding puzzle, priced when it was issued.
        if not decision.challenge.reused:
            assert preview.puzzle_tokens == decision.challenge.price


async def test_preview_matches_decide_and_changes_nothing(store: Store) -> None:
    clock = ManualClock()
    gk, source, asked = keeper(store, clock)
    gk.overrides = effective(
        {
            "net:198.51.100.0/24": IdentityOverride(tier="partner"),
            "net:203.0.113.0/24": IdentityOverride(blocked=True, reason="scraping"),
        }
    )
    # A pass for Alice, to preview requests it pays for.
    first = await gk.decide(Visitor(path="/api/a", peer=ALICE))
    first = await gk.decide(Visitor(path="/api/a", peer=ALICE))
    assert isinstance(first, Challenge)
    gates = len(first.challenge.puzzle.gates)
    token = (
        await gk.solve(
            first.challenge.challenge_id, Visitor(path="/api/a", peer=ALICE), source.issued[-gates:]
        )
    ).token

    steps = [
        Visitor(path="/free", peer=ALICE),
        Visitor(path="/admin/x", peer=ALICE),
        Visitor(path="/trial/x", peer=ALICE),
        Visitor(path="/api/x", peer=CAROL),  # blocked
        *[Visitor(path="/api/x", peer=ALICE, tokens=(token,))] * 4,  # pays 3, then exhausted
        *[Visitor(path="/api/x", peer=BOB)] * 8,  # partner: 2 free, discount, then throttled
        Visitor(path="/api/x", peer=ALICE, human=True),
    ]
    seen: set[str] = set()
    for visitor in steps:
        before, counted = await snapshot(store), requests_counted()
        preview = await gk.preview(visitor)
        assert await snapshot(store) == before and requests_counted() == counted
        agrees(preview, await gk.decide(visitor), asked)
        seen.add(preview.action + (":dry" if preview.dry_run else ""))
        clock.advance(0.5)
    assert seen == {"allow", "deny", "challenge", "throttle", "challenge:dry"}


async def test_preview_explains_the_price() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    gk, _, _ = keeper(store, clock)
    gk.overrides = effective({"net:198.51.100.0/24": IdentityOverride(tier="partner")})
    for _ in range(4):
        await gk.decide(Visitor(path="/api/x", peer=BOB))
    preview = await gk.preview(Visitor(path="/api/x", peer=BOB))
    assert preview.identity == "net:198.51.100.0/24" and preview.tier == "partner"
    assert (preview.rule, preview.base_price, preview.rate) == ("api", 1000, 5.0)
    assert preview.multiplier == pytest.approx(1 + 7 * 2 / 3)
    assert preview.price_tokens == 4250  # 1000 x 5.67 x 0.75, rounded up
    assert preview.puzzle_tokens == 4800  # 2 words of 8 clues of tier 2: what the client is asked
    assert any("so the client is asked 4800" in reason for reason in preview.reasons)
    assert any("discount 0.25" in reason for reason in preview.reasons)

    blocked = effective({"net:198.51.100.0/24": IdentityOverride(blocked=True, reason="abuse")})
    gk.overrides = blocked
    denied = await gk.preview(Visitor(path="/free", peer=BOB))
    assert denied.action == "deny" and "abuse" in denied.reasons[-1]

    gk.overrides = effective({"net:198.51.100.0/24": IdentityOverride(tier="gold")})
    unknown = await gk.preview(Visitor(path="/api/x", peer=BOB))
    assert unknown.tier == "gold" and "not defined" in unknown.reasons[0]


async def test_preview_of_a_named_identity_uses_its_key_tier() -> None:
    from gate.identity import ApiKeyInfo, hash_api_key

    clock = ManualClock()
    gk, _, _ = keeper(MemoryStore(clock=clock), clock)
    gk.api_keys = {hash_api_key("rgk_secret"): ApiKeyInfo("acme", "partner")}
    by_name = await gk.preview(Visitor(path="/api/x", peer=None, identity="key:acme"))
    by_key = await gk.preview(Visitor(path="/api/x", peer=ALICE, api_key="rgk_secret"))
    assert by_name == by_key
    assert (by_name.identity, by_name.tier, by_name.action) == ("key:acme", "partner", "allow")


async def test_preview_sees_a_revoked_pass() -> None:
    clock = ManualClock()
    store = MemoryStore(clock=clock)
    gk, source, _ = keeper(store, clock)
    await gk.decide(Visitor(path="/api/a", peer=ALICE))
    challenge = await gk.decide(Visitor(path="/api/a", peer=ALICE))
    assert isinstance(challenge, Challenge)
    gates = len(challenge.challenge.puzzle.gates)
    minted = await gk.solve(
        challenge.challenge.challenge_id, Visitor(path="/api/a", peer=ALICE), source.issued[-gates:]
    )
    paid = Visitor(path="/api/x", peer=ALICE, tokens=(minted.token,))
    assert (await gk.preview(paid)).action == "allow"
    await revoke_identity_passes(store, gk.identity(paid), now=clock())
    revoked = await gk.preview(paid)
    assert revoked.action == "challenge" and "the pass was revoked" in revoked.reasons
