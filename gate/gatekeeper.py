"""The framework-free decision: given a request summary, allow, deny, throttle or challenge.

Adapters (ASGI middleware, reverse proxy, MCP) turn requests into a ``Visitor`` and decisions into
responses (``gate.decisions`` holds those value types, ``gate.refusals`` the words of a refusal).
A request carrying a valid pass costs one store round trip: the rate counter, the budget meter and
the ledger are updated in a single batch.

Why this module is over 400 lines: ``decide`` and ``preview`` must stay side by side.  The preview
explains, step by step, exactly the path ``decide`` takes (the same rule, pass check, allowance and
``_quote``), and a reader checks one against the other on one screen; the client resolution
(identity, tier, block) is what both start from.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from gate import challenges as _challenges
from gate import metrics
from gate.botauth import BotAuthError, KeyDirectory, check_replay, verify
from gate.challenges import ChallengeService, MintedPass, Terms
from gate.client_keys import ClientKeys, meter_key
from gate.clock import Clock, system_clock
from gate.decision_log import REQUEST_ID_HEADER, DecisionLog, decision_record
from gate.decisions import (
    Allow,
    Challenge,
    Decision,
    Deny,
    Preview,
    Throttle,
    Visitor,
    outcome_of,
)
from gate.epoch import epoch_key, epoch_of, read_marker
from gate.errors import AmbiguousPath, ConfigError, PassError
from gate.identity import ApiKeyInfo, IPNetwork, client_address, hash_api_key, network_identity
from gate.leases import Leases
from gate.ledger import bump
from gate.overrides import BLOCKED, NO_OVERRIDES, IdentityOverride
from gate.passes import PassClaims, PassCodec, check_binding
from gate.paths import STRICT, PathSemantics
from gate.pricing import (
    TIER_COST,
    RateCurve,
    max_puzzle_price,
    puzzle_spec,
    seconds_until,
    sliding_rate,
)
from gate.puzzle import PuzzleSource
from gate.revocation import is_revoked, read_revocation
from gate.rules import Action, RequestFacts, Rule, RuleSet, RuleSource, Tier, Verdict
from gate.store import Get, Incr, Op, Store

__all__ = [  # the decision types are re-exported: adapters import them from here
    "VERIFIED_BOT_TIER",
    "Allow",
    "Challenge",
    "Decision",
    "Deny",
    "GateSettings",
    "Gatekeeper",
    "Preview",
    "Throttle",
    "Visitor",
]

VERIFIED_BOT_TIER = "verified-bot"  # the policy tier that applies to bots with a valid signature


@dataclass(frozen=True)
class GateSettings:
    rate_window: float = 60.0  # seconds over which an identity's request rate is measured
    curve: RateCurve = field(default_factory=RateCurve)
    max_price: int = 50_000  # above this a client is told to wait (429) instead of solving
    agent_tier: int = 2
    human_tier: int = 1  # people get an easier tier than programs by default
    challenge_ttl: int = 300
    max_attempts: int = 5
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # The solve-time floor: a rule without its own ``solve_floor`` waits its puzzle's price at
    # this many tokens/s (a fast model's decode rate); people (the HTML form) wait human_floor.
    # None: the defaults of gate.challenges (DECODE_RATE, HUMAN_FLOOR).
    decode_rate: float | None = None
    human_floor: float | None = None
    # People see at most this many clues per challenge (the HTML form), whatever the rule's price.
    human_max_clues: int = 10
    # How the upstream reads paths (GATE_PATH_SEMANTICS); strict is safe in front of any.
    paths: PathSemantics = STRICT
    # Request header limits (GATE_MAX_HEADERS, GATE_MAX_HEADER_BYTES): over either, 431 before
    # any decision, so a client cannot make every request of its own cost the gate more to read.
    max_headers: int = 100
    max_header_bytes: int = 32_768
    # Uses of a pass one process charges at once and meters locally (GATE_PASS_LEASE; gate.leases).
    pass_lease: int = 1
    # Seconds an edge may cache a paid forward-auth decision (GATE_EDGE_CACHE; 0: never).
    edge_cache: int = 0

    def human_cap(self) -> int:
        """The most a person's challenge costs: ``human_max_clues`` clues at the human tier."""
        return self.human_max_clues * TIER_COST[self.human_tier]


@dataclass(frozen=True, slots=True)
class _UnissuedChallenge:
    """What a dry-run rule would have asked for; never leaves the gatekeeper."""

    rule: Rule
    price: int


_OUTCOME = {
    Allow: "allow",
    Deny: "deny",
    Throttle: "throttle",
    Challenge: "challenge",
    _UnissuedChallenge: "challenge",
}


@functools.lru_cache(maxsize=4_096)
def _counter(action: str, rule: str):  # type: ignore[no-untyped-def]
    return metrics.REQUESTS.labels(action, rule)


def _count(action: str, rule: str) -> None:
    _counter(action, rule).inc()


_WOULD = {
    Deny: "deny",
    Throttle: "throttle",
    Challenge: "challenge",
    _UnissuedChallenge: "challenge",
}


def _dry_run_ops(rule_name: str, subject: str, would: str) -> list[Op]:
    """Count what a dry-run rule would have done: per rule, and in the client's ledger."""
    return [
        Incr(f"dry-run:{rule_name}:{would}", 1, 30 * 86_400.0),
        bump(subject, f"dry_run_{would}"),
    ]


_D = TypeVar("_D", bound=Allow | Deny | Throttle | Challenge)


def _rate_key(subject: str) -> str:
    return ClientKeys.of(subject).rate


def _meter_key(claims: PassClaims) -> str:
    """A pass's use counter, in its subject's shard (gate.shards)."""
    return meter_key(claims.subject, claims.pass_id)


def _asked(decision: Decision | _UnissuedChallenge) -> int | None:
    """The price a decision asked (or, for a dry run, would have asked), in solver tokens."""
    if isinstance(decision, Challenge):
        return decision.challenge.price
    if isinstance(decision, Throttle | _UnissuedChallenge):
        return decision.price
    return None


@dataclass(frozen=True, slots=True)
class _Quote:
    free: int  # requests per window the free allowance lets through
    level: int  # the clue tier a puzzle would be composed at
    price: int = 0  # solver tokens asked (after discount, and the human cap)
    cap: int = 0  # above this the client waits instead (throttled)
    discount: float = 1.0
    free_left: int | None = None  # set when the allowance lets this request through
    throttled: bool = False
    human_capped: bool = False
    budget: int = 0  # requests the pass buys: the rule's, or its share of a capped price


class Gatekeeper:
    def __init__(
        self,
        store: Store,
        source: PuzzleSource,
        passes: PassCodec,
        rules: RuleSource,
        settings: GateSettings | None = None,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.passes = passes
        self.settings = settings or GateSettings()
        self.rules = rules
        self.clock = clock
        self.challenges = ChallengeService(
            store,
            source,
            passes,
            clock=clock,
            ttl=self.settings.challenge_ttl,
            max_attempts=self.settings.max_attempts,
            decode_rate=self.settings.decode_rate,
        )

        # Parsing addresses costs more than the rest of a paid request; clients repeat.
        self._identity = functools.lru_cache(maxsize=65_536)(self._resolve_identity)
        self.api_keys: Mapping[str, ApiKeyInfo] = {}  # key hash -> holder; replaced on refresh
        self.bot_keys: KeyDirectory | None = None  # known bots (Web Bot Auth); None: none verified
        # Operator overrides by identity (blocked, tier); replaced whole on refresh.
        self.overrides: Mapping[str, IdentityOverride] = NO_OVERRIDES
        self._key_tiers_of: Mapping[str, ApiKeyInfo] | None = None
        self._key_tiers_by_name: Mapping[str, str] = {}
        self._address = functools.lru_cache(maxsize=65_536)(self._resolve_address)
        self.decision_log: DecisionLog | None = None  # GATE_DECISION_LOG (opt-in)
        self.leases = Leases(self.settings.pass_lease)

    def _resolve_address(self, peer: str | None, forwarded_for: tuple[str, ...]) -> str:
        return client_address(peer, forwarded_for, self.settings.trusted_proxies)

    def _resolve_identity(self, peer: str | None, forwarded_for: tuple[str, ...]) -> str:
        return network_identity(client_address(peer, forwarded_for, self.settings.trusted_proxies))

    def identity(self, visitor: Visitor) -> str:
        """Who pays: an explicit identity, a valid API key's holder, a verified bot, else the
        client's network.  An unknown API key is ignored (priced as anonymous), never trusted."""
        if visitor.identity is not None:
            return visitor.identity
        if visitor.api_key is not None:
            holder = self.api_keys.get(hash_api_key(visitor.api_key))
            if holder is not None:
                return f"key:{holder.name}"
        if visitor.bot is not None:
            return f"bot:{visitor.bot}"
        return self._identity(visitor.peer, visitor.forwarded_for)

    async def verified_bot(
        self,
        method: str,
        authority: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        scheme: str,
    ) -> str | None:
        """The bot that signed this request (Web Bot Auth), or None.  A missing, invalid, expired
        or replayed signature only means the client is priced anonymously."""
        if self.bot_keys is None or "signature-input" not in headers:
            return None
        try:
            signature = verify(
                method,
                authority,
                path,
                query,
                headers,
                self.bot_keys,
                now=self.clock(),
                scheme=scheme,
            )
            await check_replay(self.store, signature)
        except BotAuthError as exc:
            metrics.BOT_SIGNATURES.labels(exc.reason).inc()
            return None
        metrics.BOT_SIGNATURES.labels("verified").inc()
        return signature.name

    def tier(self, visitor: Visitor, subject: str | None = None) -> Tier | None:
        """The pricing tier: an operator override first, then the API key's, then verified bot."""
        name = self._tier_name(visitor, subject)
        return self.rules.tiers.get(name) if name else None

    def _tier_name(self, visitor: Visitor, subject: str | None = None) -> str:
        name = ""
        if self.overrides:
            override = self.overrides.get(subject or self.identity(visitor))
            if override is not None and override.tier:
                return override.tier
        if visitor.api_key is not None:
            holder = self.api_keys.get(hash_api_key(visitor.api_key))
            name = holder.tier if holder is not None else ""
        elif visitor.identity is not None and visitor.identity.startswith("key:"):
            # An identity given by the caller (a preview, an adapter that knows its client): a
            # key holder is priced with the key's tier as if the key had been presented.
            name = self._key_tiers().get(visitor.identity[4:], "")
        if not name and (
            visitor.bot is not None
            or (visitor.identity is not None and visitor.identity.startswith("bot:"))
        ):
            name = VERIFIED_BOT_TIER
        return name

    def _key_tiers(self) -> Mapping[str, str]:
        """Key holder name -> tier, rebuilt when the key list is replaced."""
        keys = self.api_keys
        if self._key_tiers_of is not keys:
            self._key_tiers_by_name = {info.name: info.tier for info in keys.values()}
            self._key_tiers_of = keys
        return self._key_tiers_by_name

    def blocked(self, visitor: Visitor, subject: str | None = None) -> IdentityOverride | None:
        """The override that blocks this client, if an operator blocked it."""
        if not self.overrides:
            return None
        override = self.overrides.get(subject or self.identity(visitor))
        return override if override is not None and override.blocked else None

    @property
    def rules(self) -> RuleSource:
        return self._rules

    @rules.setter
    def rules(self, rules: RuleSource) -> None:
        """Replace the rules; a rule no puzzle can pay for is refused (ConfigError) up front."""
        self.check_rules(rules)
        self._rules = rules
        # A plain RuleSet reads the path alone, so its verdict per path (every reading of it
        # checked, as _evaluate does) is kept: a client repeats its paths.  Kept with the path
        # semantics it was made under, and dropped with the rules.  Policies read more facts
        # (headers, addresses, identities) and are evaluated on every request.
        self._by_path: tuple[PathSemantics, Callable[[str], Verdict]] | None = None
        if type(rules) is RuleSet:
            paths = self.settings.paths

            def by_path(path: str) -> Verdict:
                return self._evaluate(Visitor(path=path, peer=None), "")

            self._by_path = (paths, functools.lru_cache(maxsize=16_384)(by_path))

    def check_rules(self, rules: RuleSource) -> None:
        """Raise ``ConfigError`` when a priced rule costs more than one challenge can."""
        folds_case = "case-insensitive" in self.settings.paths.foldings
        for rule in rules.terms():
            if folds_case and rule.prefix is not None and rule.prefix != rule.prefix.lower():
                raise ConfigError(
                    f"rule prefix {rule.prefix!r}: with case-insensitive path semantics "
                    "(GATE_PATH_SEMANTICS) prefixes must be lower case, as paths are priced"
                )
            if rule.action is not Action.PRICE:
                continue
            for tier in {self.settings.agent_tier, self.settings.human_tier}:
                cap = min(self.settings.max_price, max_puzzle_price(tier))
                if rule.price > cap:
                    raise ConfigError(
                        f"rule {rule.prefix or rule.scope!r}: price {rule.price} exceeds what one "
                        f"challenge can cost at tier {tier} ({cap}); lower the price or raise "
                        "GATE_MAX_PRICE"
                    )

    def verdict(self, visitor: Visitor) -> Verdict:
        """Which rule applies to ``visitor``'s request (no store access).  A blocked client
        meets the deny rule ``override:blocked`` whatever the policy says."""
        subject = self.identity(visitor)
        if self.overrides and self.blocked(visitor, subject) is not None:
            return Verdict(BLOCKED, BLOCKED.scope)
        by_path = self._by_path
        if by_path is not None and by_path[0] is self.settings.paths:
            return by_path[1](visitor.path)
        return self._evaluate(visitor, subject)

    def _evaluate(self, visitor: Visitor, subject: str) -> Verdict:
        path, others = self.settings.paths.readings(visitor.path)
        facts = RequestFacts(
            path=path,
            method=visitor.method,
            host=visitor.host,
            headers=visitor.headers,
            address=self._address(visitor.peer, visitor.forwarded_for),
            identity=subject,
        )
        verdict = self.rules.evaluate(facts)
        for other in others:
            # Another upstream's reading of this spelling must meet the same terms, or the
            # spelling could reach a priced resource at another rule's price (gate.paths).
            alternative = self.rules.evaluate(replace(facts, path=other))
            if _terms(alternative) != _terms(verdict):
                raise AmbiguousPath("another reading of this path meets other terms")
        return verdict

    async def refund(self, decision: Allow) -> None:
        """Give back the use that ``decision``'s pass paid for, when the request it let through
        then failed (the upstream errored or never answered): only served calls spend a budget."""
        claims = decision.claims
        if claims is None:
            return
        ttl = max(1.0, claims.expires_at - self.clock() + self.settings.rate_window)
        await self.store.execute(
            [Incr(_meter_key(claims), -1, ttl), bump(claims.subject, "served", -1)]
        )

    async def decide(self, visitor: Visitor, verdict: Verdict | Rule | None = None) -> Decision:
        """Decide ``visitor``'s request.  ``verdict`` skips rule matching when the caller already
        made it (or prices something that is not an HTTP path, such as an MCP tool)."""
        started = time.perf_counter()
        if verdict is None:
            verdict = self.verdict(visitor)
        elif isinstance(verdict, Rule):
            verdict = Verdict(verdict, verdict.scope)
        rule = verdict.rule
        # Blocking is an operator's act on one client, not a rule: dry run does not soften it.
        if self.overrides and self.blocked(visitor) is not None:
            _count("deny", BLOCKED.scope)
            return self._logged(visitor, BLOCKED.scope, Deny(BLOCKED, reason="blocked"), started)
        if rule.action is Action.ALLOW:
            return self._free(visitor, verdict, started)
        dry_run = verdict.name if verdict.dry_run else None
        decision = await self._decide(visitor, rule, dry_run=dry_run)
        metrics.LATENCY.observe(time.perf_counter() - started)
        _count(_OUTCOME[type(decision)] if not verdict.dry_run else "dry_run", verdict.name)
        if verdict.dry_run and not isinstance(decision, Allow):
            # Dry run: what would have happened is already counted (in the round trip _decide
            # made, or here for a deny, which makes none); the request goes through.
            would = _WOULD[type(decision)]
            if isinstance(decision, Deny):
                await self.store.execute(_dry_run_ops(verdict.name, self.identity(visitor), would))
            allowed = Allow(rule, dry_run=would)
            return self._logged(visitor, verdict.name, allowed, started, _asked(decision))
        assert not isinstance(decision, _UnissuedChallenge)  # only dry-run rules skip issuing
        return self._logged(visitor, verdict.name, decision, started)

    def stamp(self) -> tuple[object, ...]:
        """What a decision depends on besides the request and the store: the rules, keys,
        overrides and settings, each replaced whole when it changes.  Equal stamps (identity
        first: the same objects) mean a request identical to an earlier one is decided alike."""
        return (self._rules, self.api_keys, self.overrides, self.bot_keys, self.settings)

    def again(self, paid: Allow, rule_name: str, stamp: tuple[object, ...]) -> Allow | None:
        """The decision for a request identical in every input to one ``decide`` allowed on a
        pass (the same request facts, ``stamp`` from :meth:`stamp` then): its rule, identity and
        binding are those of ``paid``, so only what changes from one request to the next is
        checked: the state (``stamp``), the pass's expiry, an operator's block, and a use from
        the pass's lease (gate.leases).  Counted as ``decide`` counts it.  None: decide it in
        full (no use leased, the pass expired, anything changed, or a decision log is on)."""
        started = time.perf_counter()
        claims = paid.claims
        if claims is None or self.decision_log is not None or stamp != self.stamp():
            return None
        now = self.clock()
        if now >= claims.expires_at:
            return None
        override = self.overrides.get(claims.subject) if self.overrides else None
        if override is not None and override.blocked:
            return None
        remaining = self.leases.take(claims.pass_id, now)
        if remaining is None:
            return None
        metrics.LATENCY.observe(time.perf_counter() - started)
        _count("allow", rule_name)
        return Allow(paid.rule, remaining, claims)

    def free(self, visitor: Visitor, verdict: Verdict) -> Allow | None:
        """The decision for ``verdict`` when its rule is free (else None), made without the store:
        the fast path of the adapters, counted and logged like every decision.  ``verdict`` must
        come from :meth:`verdict`, which already turns a blocked client into a deny."""
        if verdict.rule.action is not Action.ALLOW:
            return None
        return self._free(visitor, verdict, time.perf_counter())

    def _free(self, visitor: Visitor, verdict: Verdict, started: float) -> Allow:
        _count("allow", verdict.name)
        return self._logged(visitor, verdict.name, Allow(verdict.rule), started)

    def _logged(
        self,
        visitor: Visitor,
        rule_name: str,
        decision: _D,
        started: float,
        asked: int | None = None,
    ) -> _D:
        """``decision``, after writing its line to the decision log when one is configured."""
        if self.decision_log is None:
            return decision
        self.decision_log.write(
            decision_record(
                now=self.clock(),
                identity=self.identity(visitor),
                rule=rule_name,
                action=decision.rule.action.value,
                outcome=outcome_of(decision),
                reason=decision.reason if isinstance(decision, Challenge) else None,
                price=asked if asked is not None else _asked(decision),
                latency=time.perf_counter() - started,
                request_id=visitor.headers.get(REQUEST_ID_HEADER),
            )
        )
        return decision

    async def _decide(
        self, visitor: Visitor, rule: Rule, *, dry_run: str | None
    ) -> Decision | _UnissuedChallenge:
        """``dry_run``: the dry-run rule's name; its counters join the store round trip made
        for the outcome, so a dry-run request costs no more round trips than a real one."""
        if rule.action is Action.DENY:
            return Deny(rule)
        subject = self.identity(visitor)
        claims, reason = self._usable_pass(visitor.tokens, subject, rule)

        now = self.clock()
        if claims is not None:
            leased = self.leases.take(claims.pass_id, now)
            if leased is None and self.leases.pending(claims.pass_id):
                # The lease being charged may serve this request too (gate.leases).
                leased = await self.leases.take_waiting(claims.pass_id, self.clock)
                now = self.clock()
            if leased is not None:  # charged already: no round trip (gate.leases)
                return Allow(rule, leased, claims)
        window = self.settings.rate_window
        slot = int(now // window)
        keys = ClientKeys.of(subject)
        rate_key = keys.rate
        grant = self.leases.charge(claims.pass_id, now) if claims is not None else None
        counted = 1 + (grant.unflushed if grant is not None else 0)
        ops: list[Op] = [
            Incr(f"{rate_key}:{slot}", counted, 2 * window),
            Get(f"{rate_key}:{slot - 1}"),
        ]
        if claims is not None and grant is not None:
            meter_ttl = max(1.0, claims.expires_at - now + window)
            # The identity's revocation time and its shard's epoch ride in the same round trip
            # as the meter, all under one hash tag (gate.shards): one atomic script, even on a
            # Redis Cluster.
            ops += [
                Incr(keys.meter(claims.pass_id), grant.amount, meter_ttl),
                keys.served if counted == 1 else bump(subject, "served", counted),
                keys.revocation,
                read_marker(keys.epoch),
            ]
        try:
            results = await self.store.execute(ops)
        finally:
            if claims is not None and grant is not None:
                self.leases.settle(claims.pass_id, grant)
        rate = sliding_rate(results[0], int(results[1] or 0), window, now)

        if claims is not None and grant is not None:
            # With leases off (amount 1) this is the budget left after this request.
            remaining = claims.budget - (results[2] - grant.amount + 1)
            if epoch_of(results[5]) != claims.epoch or not claims.epoch:
                # Minted before the store lost its state: its meter is gone, so it must not
                # start over with a full budget (gate.epoch).
                self.leases.drop(claims.pass_id)
                metrics.PASSES.labels("reset").inc()
                reason = "reset"
            elif is_revoked(claims, results[4]):
                self.leases.drop(claims.pass_id)
                metrics.PASSES.labels("revoked").inc()
                reason = "revoked"
            elif self.leases.granted(claims.pass_id, grant, results[2], claims.budget, now):
                shared_left = max(0, claims.budget - results[2])
                return Allow(rule, shared_left + self.leases.held(claims.pass_id), claims)
            else:
                if remaining == -1:  # counted once, on the first request past the budget
                    metrics.PASSES.labels("exhausted").inc()
                reason = "exhausted"
        corrections: list[Op] = [bump(subject, "served", -1)] if claims is not None else []

        tier = self.tier(visitor, subject)
        quote = self._quote(visitor, rule, tier, rate)
        if quote.free_left is not None:
            if claims is None:  # else the batch above already counted it served
                await self.store.execute([bump(subject, "served")])
            return Allow(rule, remaining=quote.free_left)
        level, price = quote.level, quote.price
        if quote.throttled:
            ops = [*corrections, bump(subject, "throttled")]
            if dry_run is not None:
                ops += _dry_run_ops(dry_run, subject, "throttle")
            await self.store.execute(ops)
            wait = self._wait(
                rule, quote.cap, quote.discount, results[0], int(results[1] or 0), now
            )
            return Throttle(rule, retry_after=wait, price=price)
        if dry_run is not None:  # no puzzle is composed for a request that will pass anyway
            await self.store.execute([*corrections, *_dry_run_ops(dry_run, subject, "challenge")])
            return _UnissuedChallenge(rule, price)
        floor = rule.solve_floor
        if floor is None and visitor.human:
            human = self.settings.human_floor
            floor = _challenges.HUMAN_FLOOR if human is None else human
        terms = Terms(subject, rule.scope, rule.digest, quote.budget, rule.pass_ttl, floor)
        issued = await self.challenges.issue(
            terms,
            price=price,
            tier=level,
            extra_ops=corrections,
            slot=tier.name if tier else "",
        )
        return Challenge(rule, issued, reason)

    def _quote(self, visitor: Visitor, rule: Rule, tier: Tier | None, rate: float) -> _Quote:
        """What a priced rule asks of ``visitor`` at ``rate``: the one pricing path that
        ``decide`` acts on and ``preview`` explains."""
        free = max(rule.free_per_window, tier.free_per_window) if tier else rule.free_per_window
        level = self.settings.human_tier if visitor.human else self.settings.agent_tier
        if rate <= free:
            return _Quote(free, level, free_left=int(free - rate))
        price, cap, discount = self._price(rule, rate, tier, level)
        if price > cap:
            return _Quote(free, level, price, cap, discount, throttled=True)
        # A person's price: a bounded form, whatever the rule asks.
        human_capped = visitor.human and price > self.settings.human_cap()
        budget = rule.budget
        if human_capped:
            # The same tokens per request as the rule's price: a client that asks for the HTML
            # form to pay less buys proportionally fewer requests, so it saves nothing.
            budget = max(1, rule.budget * self.settings.human_cap() // price)
            price = self.settings.human_cap()
        return _Quote(free, level, price, cap, discount, human_capped=human_capped, budget=budget)

    def _price(
        self, rule: Rule, rate: float, tier: Tier | None, level: int
    ) -> tuple[int, int, float]:
        """(price, cap, discount factor) of a challenge at ``rate`` for a client of ``tier``.

        Above the cap, waiting is the cheaper path: the client is told for how long instead of
        being priced a puzzle no client should solve (or the bank could not even compose).
        """
        cap = min(self.settings.max_price, max_puzzle_price(level))
        discount = 1.0 - tier.discount if tier else 1.0
        price = math.ceil(rule.price * self.settings.curve.multiplier(rate) * discount)
        return price, cap, discount

    def _wait(
        self, rule: Rule, cap: int, discount: float, current: int, previous: int, now: float
    ) -> int:
        """Seconds until a throttled client's price is back under the cap."""
        limit = self.settings.curve.max_rate(cap / (rule.price * discount)) - 1  # room to retry
        wait = seconds_until(current, previous, self.settings.rate_window, now, limit)
        return max(1, math.ceil(wait))

    async def preview(self, visitor: Visitor) -> Preview:
        """What ``decide`` would answer for ``visitor`` now, without side effects: nothing is
        counted, metered or issued (the store is only read, in one round trip)."""
        subject = self.identity(visitor)
        tier_name = self._tier_name(visitor, subject) or None
        tier = self.rules.tiers.get(tier_name) if tier_name else None
        reasons: list[str] = []
        if tier_name and tier is None:
            reasons.append(f"tier {tier_name!r} is not defined by the policy: no discount")
        blocked = self.blocked(visitor, subject)
        if blocked is not None:
            why = f": {blocked.reason}" if blocked.reason else ""
            reasons.append(f"identity {subject} is blocked by an operator{why}")
            return Preview("deny", None, tier_name, BLOCKED.scope, tuple(reasons), False, subject)
        verdict = self.verdict(visitor)
        rule, name, dry_run = verdict.rule, verdict.name, verdict.dry_run
        reasons.append(
            f"rule {name!r} applies" + (f" (weight {verdict.weight})" if verdict.weight else "")
        )
        if dry_run:
            reasons.append("dry run: the outcome is recorded and the request passes")
        if rule.action is not Action.PRICE:
            action = "allow" if rule.action is Action.ALLOW else "deny"
            return Preview(action, None, tier_name, name, tuple(reasons), dry_run, subject)

        now = self.clock()
        window = self.settings.rate_window
        slot = int(now // window)
        claims, why = self._usable_pass(visitor.tokens, subject, rule)
        rate_key = _rate_key(subject)
        ops: list[Op] = [Get(f"{rate_key}:{slot}"), Get(f"{rate_key}:{slot - 1}")]
        if claims is not None:
            ops += [Get(_meter_key(claims)), read_revocation(subject), Get(epoch_key(subject))]
        results = await self.store.execute(ops)
        current = int(results[0] or 0) + 1  # decide() counts the request before pricing it
        previous = int(results[1] or 0)
        rate = sliding_rate(current, previous, window, now)
        multiplier = self.settings.curve.multiplier(rate)

        def answer(
            action: str,
            price: int | None = None,
            retry: int | None = None,
            puzzle: int | None = None,
        ) -> Preview:
            return Preview(
                action,
                price,
                tier_name,
                name,
                tuple(reasons),
                dry_run,
                subject,
                rate,
                multiplier,
                rule.price,
                retry,
                puzzle,
            )

        if claims is not None:
            remaining = claims.budget - (int(results[2] or 0) + 1)
            if not claims.epoch or epoch_of(results[4]) != claims.epoch:
                reasons.append("the pass predates a reset of the store (its budget is unknown)")
            elif is_revoked(claims, results[3]):
                reasons.append("the pass was revoked")
            elif remaining >= 0:
                reasons.append(f"a valid pass pays ({remaining} requests left after this one)")
                return answer("allow")
            else:
                reasons.append("the pass's budget is spent")
        elif visitor.tokens:
            reasons.append(f"no usable pass ({why})")
        quote = self._quote(visitor, rule, tier, rate)
        if quote.free_left is not None:
            reasons.append(f"within the free allowance ({quote.free} per {window:g} s)")
            return answer("allow")
        price, cap = quote.price, quote.cap
        reasons.append(
            f"rate {rate:.1f} per {window:g} s: multiplier {multiplier:g}"
            + (f", tier {tier.name!r} discount {tier.discount:g}" if tier else "")
        )
        if quote.throttled:
            reasons.append(f"price {price} is above the cap {cap}: the client is told to wait")
            return answer(
                "throttle", price, self._wait(rule, cap, quote.discount, current, previous, now)
            )
        if quote.human_capped:
            reasons.append(
                f"a person sees at most {self.settings.human_max_clues} clues: price capped at "
                f"{price} (GATE_HUMAN_MAX_CLUES), and the pass buys {quote.budget} of the rule's "
                f"{rule.budget} requests (the same tokens per request)"
            )
        spec = puzzle_spec(price, quote.level)
        clues = spec.gates * spec.length
        puzzle = clues * TIER_COST[quote.level]
        if puzzle != price:
            reasons.append(
                f"price {price} buys whole clues: {clues} of tier {quote.level} at "
                f"{TIER_COST[quote.level]} tokens, so the client is asked {puzzle}"
            )
        return answer("challenge", price, puzzle=puzzle)

    def _usable_pass(
        self, tokens: Sequence[str], subject: str, rule: Rule
    ) -> tuple[PassClaims | None, str]:
        """The first candidate pass that is genuine, unexpired and bound to this client and rule."""
        reason = "missing"
        for token in tokens:
            try:
                claims = self.passes.verify(token)
                check_binding(claims, subject=subject, scope=rule.scope, rule=rule.digest)
            except PassError as exc:
                reason = _PASS_REASONS.get(type(exc).__name__, "invalid")
                continue
            return claims, ""
        return None, reason

    async def solve(
        self, challenge_id: str, visitor: Visitor, answers: Sequence[str]
    ) -> MintedPass:
        return await self.challenges.solve(challenge_id, self.identity(visitor), answers)


def _terms(verdict: Verdict) -> tuple[Action, str, bool]:
    """What a verdict means for the client: free, forbidden, or priced under these terms (the
    rule digest covers price, budget, lifetime and scope).  Two allow rules are the same terms."""
    rule = verdict.rule
    return rule.action, rule.digest if rule.action is Action.PRICE else "", verdict.dry_run


_PASS_REASONS = {
    "PassInvalid": "invalid",
    "PassExpired": "expired",
    "PassNotApplicable": "not_applicable",
}
