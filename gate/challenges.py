"""The challenge lifecycle: issue a puzzle, check answers, mint a pass exactly once.

Security properties this module owns:
- the store holds only keyed digests of the hidden words, never the words;
- attempts are counted atomically before an answer is compared, so parallel guessing gains nothing;
- a correct answer mints a pass only after ``Take`` removed the challenge: of many concurrent correct
  submissions exactly one wins;
- any unexpected failure raises before minting (fail closed).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from gate import metrics
from gate.answers import normalize_answer
from gate.clock import Clock, system_clock
from gate.errors import ChallengeGone, ChallengeMismatch, WrongAnswer
from gate.keys import KeyRing, b64url, b64url_decode
from gate.ledger import bump, enlist
from gate.passes import PassClaims, PassCodec
from gate.pricing import MAX_GATES, puzzle_spec
from gate.puzzle import PublicPuzzle, PuzzleSource, puzzle_from_dict, puzzle_to_dict
from gate.store import Get, Incr, Op, Put, Store, Take

_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


@dataclass(frozen=True, slots=True)
class Terms:
    """What a solved challenge buys: who may use the pass, where, for how many requests, how long."""

    subject: str
    scope: str
    rule: str
    budget: int
    pass_ttl: int


@dataclass(frozen=True, slots=True)
class IssuedChallenge:
    challenge_id: str
    puzzle: PublicPuzzle
    price: int  # expected solver tokens of the puzzle actually composed
    expires_at: int
    attempts: int


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
    ) -> None:
        self.store = store
        self.source = source
        self.passes = passes
        self.keys: KeyRing = passes.keys
        self.clock = clock
        self.ttl = ttl
        self.max_attempts = max_attempts

    async def issue(
        self, terms: Terms, *, price: int, tier: int, extra_ops: Sequence = ()
    ) -> IssuedChallenge:
        """Compose a puzzle worth at least ``price`` and store its terms under a fresh single-use id.

        ``extra_ops`` ride in the same store round trip (ledger corrections by the caller).
        """
        spec = puzzle_spec(price, tier)
        composed = await self.source.compose(spec)
        while composed.public.cost < price and spec.gates < MAX_GATES:
            # A bank short of words or clues falls back to shorter words or another tier; more
            # gates keep the puzzle worth at least what the rule asks.
            spec = replace(spec, gates=spec.gates + 1)
            composed = await self.source.compose(spec)
        challenge_id = secrets.token_urlsafe(16)
        cost = composed.public.cost
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
            "expires_at": int(self.clock()) + self.ttl,
        }
        await self.store.execute(
            [
                Put(_key(challenge_id), json.dumps(record).encode(), self.ttl),
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
        return IssuedChallenge(
            challenge_id=challenge_id,
            puzzle=puzzle_from_dict(record["puzzle"]),
            price=int(record["price"]),
            expires_at=int(record["expires_at"]),
            attempts=max(0, self.max_attempts - int(tries or 0)),
        )

    async def solve(self, challenge_id: str, subject: str, answers: Sequence[str]) -> MintedPass:
        """Check ``answers`` (one per gate) and mint a pass, or raise a ``ChallengeError``."""
        if not _ID.match(challenge_id):
            raise ChallengeGone("unknown challenge")
        key = _key(challenge_id)
        raw = await self.store.get(key)
        if raw is None:
            raise ChallengeGone("unknown, expired or already solved challenge")
        # Checked before an attempt is counted, so a stranger who learns the id cannot burn the
        # owner's attempts.
        if json.loads(raw)["subject"] != subject:
            raise ChallengeMismatch("challenge was issued to another client")
        tries, raw = await self.store.execute([Incr(key + ":tries", 1, self.ttl), Get(key)])
        if raw is None:
            raise ChallengeGone("unknown, expired or already solved challenge")
        record = json.loads(raw)
        if tries > self.max_attempts:
            await self.store.delete(key)
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
                ops.append(Take(_key(challenge_id)))
            await self.store.execute(ops)
            metrics.CHALLENGES.labels("failed").inc()
            raise WrongAnswer(attempts_left)
        # Only the caller whose Take returns the record may mint: exactly one pass per challenge.
        if await self.store.take(_key(challenge_id)) is None:
            raise ChallengeGone("challenge already solved")
        await self.store.execute(
            [bump(subject, "solved"), bump(subject, "tokens_paid", int(record["price"]))]
        )
        token, claims = self.passes.mint(
            subject=subject,
            scope=record["scope"],
            rule=record["rule"],
            budget=int(record["budget"]),
            price=int(record["price"]),
            ttl=int(record["pass_ttl"]),
        )
        metrics.CHALLENGES.labels("solved").inc()
        metrics.PASSES.labels("minted").inc()
        return MintedPass(token, claims)

    def _digest(self, challenge_id: str, words: Sequence[str], kid: str | None = None) -> bytes:
        joined = "|".join(normalize_answer(word) for word in words)
        return self.keys.answer_digest(challenge_id, joined, kid)


def _key(challenge_id: str) -> str:
    return f"challenge:{challenge_id}"
