"""The challenge lifecycle: issue a puzzle, check answers, mint a pass exactly once.

Security properties this module owns:
- the store holds only keyed digests of the hidden words, never the words;
- attempts are counted atomically before an answer is compared, so parallel guessing gains nothing;
- a correct answer mints a pass only after ``Take`` removed the challenge: of many concurrent correct
  submissions exactly one wins;
- an answer sooner than the challenge's solve-time floor is not judged and uses no attempt, so a
  program that answers by lookup earns passes no faster than a model that has to reason;
- one outstanding challenge per client, rule and tier: asking again returns the same challenge
  until it is solved, expires or runs out of attempts, so asking is not spending (the bank's
  clues) and a client cannot work on many challenges of one rule in parallel;
- any unexpected failure raises before minting (fail closed).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from gate import metrics
from gate.answers import normalize_answer
from gate.clock import Clock, system_clock
from gate.epoch import epoch_of, read_epoch
from gate.errors import ChallengeGone, ChallengeMismatch, ChallengePending, TooEarly, WrongAnswer
from gate.keys import KeyRing, b64url, b64url_decode
from gate.ledger import bump, enlist
from gate.passes import PassClaims, PassCodec
from gate.pricing import MAX_GATES, puzzle_spec
from gate.puzzle import PublicPuzzle, PuzzleSource, puzzle_from_dict, puzzle_to_dict
from gate.shards import shard_tag
from gate.store import Delete, Get, Incr, Op, Put, Store, Take

# 16 random bytes in base64url: the last character carries two bits, so its low four are zero
# (A, Q, g or w); any other spelling of an id is not one the gate issued.
_ID = re.compile(r"^[A-Za-z0-9_-]{21}[AQgw]$")
# The solve-time floor's defaults, read when a service is built (GATE_DECODE_RATE and
# GATE_HUMAN_FLOOR set them from the environment): a fast model's decode rate in tokens/s, so the
# floor is a puzzle's price at that rate, and the seconds people get on the HTML form.
DECODE_RATE = 250.0
HUMAN_FLOOR = 5.0
_PENDING_POLLS = (0.01, 0.02, 0.05, 0.1, 0.2)  # waits for a concurrent request's challenge


@dataclass(frozen=True, slots=True)
class Terms:
    """What a solved challenge buys: who may use the pass, where, for how many requests, how long."""

    subject: str
    scope: str
    rule: str
    budget: int
    pass_ttl: int
    # Seconds before an answer is judged; None: the price at the service's decode rate.
    solve_floor: float | None = None


@dataclass(frozen=True, slots=True)
class IssuedChallenge:
    challenge_id: str
    puzzle: PublicPuzzle
    price: int  # expected solver tokens of the puzzle actually composed
    expires_at: int
    attempts: int
    not_before: float = 0.0  # Unix time before which an answer is not judged
    floor: float = 0.0  # the solve-time floor, seconds after issue
    reused: bool = False  # the client's outstanding challenge, returned again

    def public(self) -> dict[str, Any]:
        """What a client is shown of the challenge as data, the same over HTTP and MCP (each adds
        its own id key and where to answer)."""
        return {
            "price": self.price,
            "attempts": self.attempts,
            "expires_at": self.expires_at,
            "not_before": math.ceil(self.not_before),
            "floor": round(self.floor, 1),
            "puzzle": puzzle_to_dict(self.puzzle),
        }


@dataclass(frozen=True, slots=True)
class MintedPass:
    token: str
    claims: PassClaims


class ChallengeService:
    def __init__(
        self,
        store: Store,
        source: PuzzleSource,
        passes: PassCodec,
        *,
        clock: Clock = system_clock,
        ttl: int = 300,
        max_attempts: int = 5,
        decode_rate: float | None = None,
    ) -> None:
        decode_rate = DECODE_RATE if decode_rate is None else decode_rate
        if decode_rate <= 0:
            raise ValueError("decode_rate must be positive")
        self.store = store
        self.source = source
        self.passes = passes
        self.keys: KeyRing = passes.keys
        self.clock = clock
        self.ttl = ttl
        self.max_attempts = max_attempts
        self.decode_rate = decode_rate

    def floor_for(self, price: int, solve_floor: float | None) -> float:
        """Seconds an answer must wait: the rule's floor, else ``price`` at the decode rate."""
        return price / self.decode_rate if solve_floor is None else solve_floor

    async def issue(
        self,
        terms: Terms,
        *,
        price: int,
        tier: int,
        extra_ops: Sequence[Op] = (),
        slot: str = "",
    ) -> IssuedChallenge:
        """The client's outstanding challenge for this rule and tier, or a fresh one.

        A fresh challenge is a puzzle worth at least ``price`` stored under a single-use id.
        ``extra_ops`` ride in the store round trip that records it (ledger corrections by the
        caller).  Of concurrent first requests one composes; the others get its challenge, or
        ``ChallengePending`` if it is not stored within a few hundred milliseconds.  ``slot``
        names what else sets the client's price apart (its pricing tier): an operator's change
        applies to the next request, not after the outstanding challenge is spent.
        """
        outstanding = _outstanding_key(terms.subject, terms.rule, tier, slot)
        reused = await self._outstanding(outstanding, extra_ops)
        if reused is not None:
            return reused
        (claims,) = await self.store.execute([Incr(outstanding + ":claim", 1, self.ttl)])
        if claims > 1:  # another request of this client holds the claim
            for wait in _PENDING_POLLS:
                await asyncio.sleep(wait)
                if (reused := await self._outstanding(outstanding, extra_ops)) is not None:
                    return reused
            raise ChallengePending()
        try:
            return await self._fresh(terms, price, tier, outstanding, extra_ops)
        except BaseException:
            await self.store.execute([Delete(outstanding + ":claim")])
            raise

    async def _outstanding(
        self, outstanding: str, extra_ops: Sequence[Op]
    ) -> IssuedChallenge | None:
        """The pending challenge ``outstanding`` points at, if it can still be answered."""
        (pointer,) = await self.store.execute([Get(outstanding)])
        if pointer is None:
            return None
        try:
            issued = await self.view(pointer.decode("ascii"))
        except ChallengeGone:
            issued = None
        if issued is None or issued.attempts <= 0:
            # Solved, expired or exhausted a moment ago: the next request may compose anew.
            await self.store.execute([Delete(outstanding), Delete(outstanding + ":claim")])
            return None
        if extra_ops:
            await self.store.execute(list(extra_ops))
        metrics.CHALLENGES.labels("reused").inc()
        return replace(issued, reused=True)

    async def _fresh(
        self, terms: Terms, price: int, tier: int, outstanding: str, extra_ops: Sequence[Op]
    ) -> IssuedChallenge:
        spec = puzzle_spec(price, tier)
        composed = await self.source.compose(spec)
        while composed.public.cost < price and spec.gates < MAX_GATES:
            # A bank short of words or clues falls back to shorter words or another tier; more
            # gates keep the puzzle worth at least what the rule asks.
            spec = replace(spec, gates=spec.gates + 1)
            composed = await self.source.compose(spec)
        challenge_id = secrets.token_urlsafe(16)
        cost = composed.public.cost
        now = self.clock()
        floor = self.floor_for(cost, terms.solve_floor)
        record: dict[str, Any] = {
            "digest": b64url(self._digest(challenge_id, composed.words)),
            "kid": self.keys.kid,  # the answer key; survives a signing-key rotation
            "gates": len(composed.words),
            "subject": terms.subject,
            "scope": terms.scope,
            "rule": terms.rule,
            "budget": terms.budget,
            "pass_ttl": terms.pass_ttl,
            "price": cost,
            "puzzle": puzzle_to_dict(composed.public),
            "issued_at": now,
            "not_before": now + floor,
            "outstanding": outstanding,
            "expires_at": int(now) + self.ttl,
        }
        await self.store.execute(
            [
                Put(_key(challenge_id), json.dumps(record).encode(), self.ttl),
                Put(outstanding, challenge_id.encode("ascii"), self.ttl),
                bump(terms.subject, "issued"),
                enlist(terms.subject),
                *extra_ops,
            ]
        )
        metrics.CHALLENGES.labels("issued").inc()
        metrics.PRICES.observe(cost)
        return IssuedChallenge(
            challenge_id=challenge_id,
            puzzle=composed.public,
            price=cost,
            expires_at=record["expires_at"],
            attempts=self.max_attempts,
            not_before=record["not_before"],
            floor=floor,
        )

    async def view(self, challenge_id: str) -> IssuedChallenge:
        """The public side of a pending challenge (to show it again, e.g. after a wrong answer)."""
        if not _ID.match(challenge_id):
            raise ChallengeGone("unknown challenge")
        raw, tries = await self.store.execute(
            [Get(_key(challenge_id)), Get(_key(challenge_id) + ":tries")]
        )
        if raw is None:
            raise ChallengeGone("unknown, expired or already solved challenge")
        record = json.loads(raw)
        issued_at = float(record.get("issued_at", 0.0))
        not_before = float(record.get("not_before", issued_at))
        return IssuedChallenge(
            challenge_id=challenge_id,
            puzzle=puzzle_from_dict(record["puzzle"]),
            price=int(record["price"]),
            expires_at=int(record["expires_at"]),
            attempts=max(0, self.max_attempts - int(tries or 0)),
            not_before=not_before,
            floor=max(0.0, not_before - issued_at),
        )

    async def solve(self, challenge_id: str, subject: str, answers: Sequence[str]) -> MintedPass:
        """Check ``answers`` (one per gate) and mint a pass, or raise a ``ChallengeError``."""
        if not _ID.match(challenge_id):
            raise ChallengeGone("unknown challenge")
        key = _key(challenge_id)
        raw = await self.store.get(key)
        if raw is None:
            raise ChallengeGone("unknown, expired or already solved challenge")
        first = json.loads(raw)
        # Checked before an attempt is counted, so a stranger who learns the id cannot burn the
        # owner's attempts.
        if first["subject"] != subject:
            raise ChallengeMismatch("challenge was issued to another client")
        # Also before the attempt is counted, and before anything is compared: an early answer
        # learns nothing and costs nothing but the wait.
        early = float(first.get("not_before", 0.0)) - self.clock()
        if early > 0:
            metrics.CHALLENGES.labels("too_early").inc()
            await self.store.execute([bump(subject, "early")])
            raise TooEarly(max(1, math.ceil(early)))
        tries, raw = await self.store.execute([Incr(key + ":tries", 1, self.ttl), Get(key)])
        if raw is None:
            raise ChallengeGone("unknown, expired or already solved challenge")
        record = json.loads(raw)
        release = _release(record)
        if tries > self.max_attempts:
            # Nothing is deleted here: an attempt within the limit may still be on its way to
            # ``Take`` on another connection, and a correct one must get its pass.  The attempt
            # that uses the last try takes the record itself (wrong) or mints (right); if it
            # never comes back, the record expires and ``view`` reports no attempts left.
            raise ChallengeGone("no attempts left")
        attempts_left = self.max_attempts - tries
        submitted = (
            self._digest(challenge_id, answers, record.get("kid"))
            if len(answers) == record["gates"]
            else b""
        )
        expected = b64url_decode(record["digest"])
        if not hmac.compare_digest(submitted, expected):
            ops: list[Op] = [bump(subject, "failed")]
            if attempts_left == 0:
                ops += [Take(_key(challenge_id)), *release]
            await self.store.execute(ops)
            metrics.CHALLENGES.labels("failed").inc()
            raise WrongAnswer(attempts_left)
        # Only the caller whose Take returns the record may mint: exactly one pass per challenge.
        # The pass carries its shard's epoch, read in the same round trip.
        taken, epoch = await self.store.execute([Take(_key(challenge_id)), read_epoch(subject)])
        if taken is None:
            raise ChallengeGone("challenge already solved")
        took = max(0.0, self.clock() - float(record.get("issued_at", self.clock())))
        await self.store.execute(
            [
                bump(subject, "solved"),
                bump(subject, "tokens_paid", int(record["price"])),
                bump(subject, "solve_ms", round(took * 1000)),
                *release,
            ]
        )
        metrics.SOLVE_SECONDS.labels(record["scope"]).observe(took)
        token, claims = self.passes.mint(
            subject=subject,
            scope=record["scope"],
            rule=record["rule"],
            budget=int(record["budget"]),
            price=int(record["price"]),
            ttl=int(record["pass_ttl"]),
            epoch=epoch_of(epoch),
        )
        metrics.CHALLENGES.labels("solved").inc()
        metrics.PASSES.labels("minted").inc()
        return MintedPass(token, claims)

    def _digest(self, challenge_id: str, words: Sequence[str], kid: str | None = None) -> bytes:
        joined = "|".join(normalize_answer(word) for word in words)
        return self.keys.answer_digest(challenge_id, joined, kid)


def _key(challenge_id: str) -> str:
    # Tagged by the id, so a challenge's record and its tries share one cluster slot.
    return f"challenge:{{{challenge_id}}}"


def _outstanding_key(subject: str, rule: str, tier: int, slot: str) -> str:
    return f"outstanding:{shard_tag(subject)}:{subject}:{rule}:{tier}:{slot}"


def _release(record: dict[str, Any]) -> list[Op]:
    """Ops that free the client's outstanding slot once this challenge is spent."""
    outstanding = record.get("outstanding")
    if not outstanding:
        return []
    return [Delete(outstanding), Delete(outstanding + ":claim")]
