"""Serve-time composition of acrostic puzzles from a ``BankIndex`` (no SQL, no model call).

Per request the composer picks hidden words and, for each letter, a clue of the wanted tier with
that initial, all in memory.  The only I/O is one hot-state batch per puzzle that counts how often
each chosen clue has been served (shared by every replica through the store), which enforces the
design's "never serve one clue more than K times".  A clue that reaches K is dropped from this
composer's live pools so it is not picked again in this process; positions whose clue was already
past K are re-picked and counted again, a bounded number of times.

Randomness defaults to ``random.SystemRandom``: the hidden word is the secret, and a Mersenne
Twister could in principle be reconstructed from the clue choices a solver observes, which would let
it predict later hidden words.  The OS generator costs a few microseconds per puzzle.

Counters expire after ``serve_ttl`` (30 days by default), so a clue becomes servable again for
composers built after that; a running composer keeps its dropped clues out until it is rebuilt.

Whole gates (opt-in, ``whole_gates=``): gates imported whole from a published set are served as
published, all their clues in order with their solution as the hidden word, when one of the wanted
tier is live (every clue servable and under the limit); otherwise the composer composes as usual.
Their serves are counted per clue like any other.

Why one module over 400 lines: the live pools, the serve-count claims and their hand-back, and the
dry-bank fallback are one piece of state with one invariant (no clue served more than K times, no
claim kept for a clue not served); split, each part would reach into the others' dictionaries.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache

from gate import metrics
from gate.errors import BankError
from gate.puzzle import (
    TIERS,
    ComposedPuzzle,
    PublicClue,
    PublicGate,
    PublicPuzzle,
    PuzzleSpec,
    price_basis,
)
from gate.store.base import Store
from gate.store.ops import Incr
from puzzles.index import BankIndex
from puzzles.models import WORD_MAX, WORD_MIN
from puzzles.whole import WholeGate, pick_whole, whole_by_tier

SERVE_KEY = "clue:served:{}"
SERVE_TTL = 30 * 86_400.0
_WORD_TRIES = 16  # random words tried for one gate before giving up on it
_FALLBACK_WORDS = 64  # further words tried, without repeats, when the random draws all failed
_CLUE_TRIES = 4  # random draws from a pool before scanning it for an unused clue
_ROUNDS = 8  # store round trips allowed per puzzle when clues turn out to be past the limit
_DRY_LOG_EVERY = 60.0  # seconds between log lines about a dry bank (one line per interval)
REUSE, REFUSE = "reuse", "refuse"

log = logging.getLogger("reasoning_gate.bank")


@cache
def _tier_order(tier: int) -> tuple[int, ...]:
    """Tiers nearest to ``tier`` first; on a tie the harder one (never cheaper than asked)."""
    return tuple(sorted(TIERS, key=lambda t: (abs(t - tier), -t)))


@cache
def _length_order(length: int) -> tuple[int, ...]:
    """Word lengths nearest to ``length`` first; on a tie the longer one."""
    return tuple(sorted(range(WORD_MIN, WORD_MAX + 1), key=lambda n: (abs(n - length), -n)))


class BankComposer:
    """A ``gate.puzzle.PuzzleSource`` over an in-memory ``BankIndex`` and a hot-state ``Store``.

    ``compose(PuzzleSpec(gates, length, tier))`` returns ``gates`` distinct hidden words of
    ``length`` letters at ``tier``.  When the wanted length has too few servable words at that tier,
    the nearest length in ``WORD_MIN``..``WORD_MAX`` that has enough is used instead (ties go to
    the longer word, so the fallback never makes a puzzle cheaper than asked where it can help it).
    When the tier cannot serve the puzzle at any length, the nearest tier is used (ties go to the
    harder tier, for the same reason); ``PublicPuzzle.tier`` is the tier actually served, and the
    lengths of ``PublicPuzzle.gates`` tell the length served.  When nothing can be served,
    ``BankError`` is raised.  A puzzle never shows the same clue twice, across all its gates.
    """

    def __init__(
        self,
        index: BankIndex,
        store: Store,
        *,
        serve_limit: int = 500,
        rng: random.Random | None = None,
        serve_ttl: float = SERVE_TTL,
        whole_gates: Sequence[WholeGate] = (),
        served_out: Iterable[int] = (),
        on_dry: str = REUSE,
    ) -> None:
        """``whole_gates`` (default none) turns on serving published gates whole; see above.

        ``served_out``: clue ids already served up to the limit (SQL's history after a restart).
        ``on_dry``: what to do when no fresh clue can compose a puzzle: ``reuse`` serves clues
        already served (the site stays usable; a clue may then be seen twice) or ``refuse``
        raises ``BankError`` (the gate answers 503).
        """
        if serve_limit < 1:
            raise ValueError("serve_limit must be at least 1")
        if on_dry not in (REUSE, REFUSE):
            raise ValueError("on_dry must be 'reuse' or 'refuse'")
        self._store = store
        self._limit = serve_limit
        self._ttl = serve_ttl
        self._random = (rng or random.SystemRandom()).random
        self._served: Counter[int] = Counter()
        self._dropped: set[int] = set(served_out)
        self._whole_gates = tuple(whole_gates)
        self._on_dry = on_dry
        self._rng = rng
        self._reuser: BankComposer | None = None  # over the whole index, built when first dry
        self._dry_logged = -_DRY_LOG_EVERY
        self._load(index)

    # -- live index -----------------------------------------------------------------------------

    def _load(self, index: BankIndex) -> None:
        self.index = index
        self._pools: dict[int, dict[str, list[PublicClue]]] = {}
        self._where: dict[int, tuple[int, str, int]] = {}  # clue id -> (tier, initial, position)
        # Clue withdrawn here -> its (tier, initial), for a give-back; a new index starts afresh.
        self._homes: dict[int, tuple[int, str]] = {}
        for tier, by_letter in index.clues.items():
            pools = self._pools[tier] = {}
            for letter, clues in by_letter.items():
                pool = pools[letter] = [c for c in clues if c.clue_id not in self._dropped]
                for pos, clue in enumerate(pool):
                    self._where[clue.clue_id] = (tier, letter, pos)
        self._words: dict[int, dict[int, list[str]]] = {
            tier: {length: list(ws) for length, ws in by_length.items()}
            for tier, by_length in index.words.items()
        }
        for tier, pools in self._pools.items():  # re-apply drops carried over from an older index
            for letter, pool in pools.items():
                if len(pool) < len(index.clues[tier][letter]):
                    self._refilter(tier, letter, len(pool))
            metrics.BANK_FRESH.labels(str(tier)).set(sum(len(pool) for pool in pools.values()))
        self._whole = whole_by_tier(self._whole_gates)

    def _clue(self, clue_id: int) -> PublicClue | None:
        """The live clue of this id, or ``None`` (not servable, or dropped for the limit)."""
        where = self._where.get(clue_id)
        return None if where is None else self._pools[where[0]][where[1]][where[2]]

    def replace_index(
        self,
        index: BankIndex,
        whole_gates: Sequence[WholeGate] | None = None,
        served_out: Iterable[int] = (),
    ) -> None:
        """Serve from a freshly loaded index (and whole gates, when given); clues dropped for the
        serve limit stay dropped, and so do ``served_out`` (SQL's, other replicas' serves)."""
        self._dropped.update(served_out)
        if whole_gates is not None:
            self._whole_gates = tuple(whole_gates)
        self._reuser = None
        self._load(index)

    def _drop(self, clue_id: int) -> None:
        """Remove a clue that reached the serve limit from the live pools (O(1) swap-remove)."""
        where = self._where.pop(clue_id, None)
        self._dropped.add(clue_id)
        if where is None:
            return
        tier, letter, pos = where
        self._homes[clue_id] = (tier, letter)
        metrics.BANK_FRESH.labels(str(tier)).dec()
        pool = self._pools[tier][letter]
        last = pool.pop()
        if pos < len(pool):
            pool[pos] = last
            self._where[last.clue_id] = (tier, letter, pos)
        self._refilter(tier, letter, len(pool))

    def _refilter(self, tier: int, letter: str, size: int) -> None:
        """Drop words needing more clues of ``letter`` than ``size`` (only runs for small pools)."""
        if size >= WORD_MAX:
            return
        by_length = self._words.get(tier, {})
        for length, words in by_length.items():
            by_length[length] = [w for w in words if w.count(letter) <= size]

    # -- composition ----------------------------------------------------------------------------

    def _resolve(self, spec: PuzzleSpec) -> tuple[int, int]:
        """The (tier, length) to serve for ``spec``: exact if possible, else the nearest."""
        if spec.gates < 1:
            raise BankError(f"a puzzle needs at least one gate (got {spec.gates})")
        for tier in _tier_order(spec.tier):
            by_length = self._words.get(tier)
            if not by_length:
                continue
            for length in _length_order(spec.length):
                if len(by_length.get(length, ())) >= spec.gates:
                    return tier, length
        raise BankError(
            f"the clue bank cannot serve {spec.gates} hidden word(s) at any tier or length "
            f"(asked for tier {spec.tier}, {spec.length} letters): seed or import more clues "
            "and words, or raise the serve limit"
        )

    def _pick_clue(self, pool: list[PublicClue], used: set[int]) -> PublicClue | None:
        n = len(pool)
        if not n:
            return None
        rnd = self._random
        for _ in range(_CLUE_TRIES):
            clue = pool[int(rnd() * n)]
            if clue.clue_id not in used:
                return clue
        free = [c for c in pool if c.clue_id not in used]
        return free[int(rnd() * len(free))] if free else None

    def _pick_gate(
        self, tier: int, length: int, used: set[int], taken: set[str]
    ) -> tuple[str, list[PublicClue]] | None:
        """A word not in ``taken`` and one unused clue per letter; adds the clue ids to ``used``.

        Random draws first (the fast path); if they all fail, a bounded random sample of the words
        not yet taken, so a small word list or a nearly dry bank does not fail by bad luck alone.
        """
        words = self._words[tier].get(length, ())
        rnd = self._random
        for _ in range(_WORD_TRIES):
            if not words:
                return None
            word = words[int(rnd() * len(words))]
            if word not in taken and (picked := self._spell(tier, word, used)) is not None:
                return word, picked
        free = [w for w in words if w not in taken]
        for _ in range(min(len(free), _FALLBACK_WORDS)):
            word = free.pop(int(rnd() * len(free)))
            if (picked := self._spell(tier, word, used)) is not None:
                return word, picked
        return None

    def _spell(self, tier: int, word: str, used: set[int]) -> list[PublicClue] | None:
        """One unused clue per letter of ``word`` (added to ``used``), or ``None`` and no change."""
        pools = self._pools[tier]
        picked: list[PublicClue] = []
        for letter in word:
            clue = self._pick_clue(pools.get(letter, []), used)
            if clue is None:
                used.difference_update(c.clue_id for c in picked)
                return None
            picked.append(clue)
            used.add(clue.clue_id)
        return picked

    async def compose(self, spec: PuzzleSpec) -> ComposedPuzzle:
        """Compose a puzzle for ``spec`` from fresh clues; when none can, reuse served ones or
        raise ``BankError``, as ``on_dry`` says."""
        try:
            return await self._compose_fresh(spec)
        except BankError as exc:
            if self._on_dry == REFUSE:
                self._dry(REFUSE, exc)
                raise
            self._dry(REUSE, exc)
        if self._reuser is None:  # no limit: every servable clue of the index, served or not
            self._reuser = BankComposer(
                self.index, self._store, serve_limit=2**62, rng=self._rng, on_dry=REFUSE
            )
        composed = await self._reuser.compose(spec)
        self._served.update(self._reuser.served_counts())
        return composed

    def _dry(self, mode: str, exc: BankError) -> None:
        """Count a dry bank and say so in the log, once per interval (never once per request)."""
        metrics.BANK_DRY.labels(mode).inc()
        now = time.monotonic()
        if now - self._dry_logged >= _DRY_LOG_EVERY:
            self._dry_logged = now
            action = "reusing served clues" if mode == REUSE else "refusing (503)"
            log.warning(
                "clue bank dry, %s (GATE_BANK_DRY=%s): %s; run `gate puzzles build` or import more",
                action,
                mode,
                exc,
            )

    async def _compose_fresh(self, spec: PuzzleSpec) -> ComposedPuzzle:
        if self._whole and (whole := await self._serve_whole(spec)) is not None:
            return whole
        tier, length = self._resolve(spec)
        used: set[int] = set()
        words: list[str] = []
        gates: list[list[PublicClue]] = []
        for _ in range(spec.gates):
            self._add_gate(tier, length, used, words, gates)

        pending: Sequence[PublicClue] = [clue for gate in gates for clue in gate]
        # Serves this composition claimed; the ones it ends up not serving (a gate re-spelled
        # around a clue past the limit, or a composition given up) are handed back, so a nearly
        # dry bank is not drained by the puzzles it failed to make.
        claimed: dict[int, PublicClue] = {}
        try:
            for _ in range(_ROUNDS):
                results = await self._store.execute(
                    [Incr(SERVE_KEY.format(c.clue_id), 1, self._ttl) for c in pending]
                )
                over: list[PublicClue] = []
                for clue, count in zip(pending, results, strict=True):
                    if count >= self._limit:
                        self._drop(clue.clue_id)  # this serve (if allowed) is its last one here
                    if count > self._limit:
                        over.append(clue)
                    else:
                        claimed[clue.clue_id] = clue
                if not over:
                    break
                # A race lost: undo this increment too, so each counter is exactly its clue's
                # serves (a winner that later hands its serve back brings the count to zero).
                await self._give_back(over)
                pending = self._repick(tier, used, {c.clue_id for c in over}, words, gates)
            else:
                raise BankError(
                    f"clues at tier {tier} keep hitting the serve limit ({self._limit}); "
                    "the bank is running dry: import more clues or raise the limit"
                )
        except BankError:
            await self._give_back(list(claimed.values()))
            raise
        kept = {clue.clue_id for gate in gates for clue in gate}
        await self._give_back([c for cid, c in claimed.items() if cid not in kept])

        served = self._served
        for gate in gates:
            for clue in gate:
                served[clue.clue_id] += 1
        metrics.BANK_SERVES.labels(str(tier)).inc(sum(len(gate) for gate in gates))
        public = PublicPuzzle(gates=tuple(PublicGate(tuple(g)) for g in gates), tier=tier)
        return ComposedPuzzle(public=public, words=tuple(words))

    async def _give_back(self, clues: Sequence[PublicClue]) -> None:
        """Undo the serve counts of ``clues``, claimed but not served; a clue this process had
        withdrawn at the limit goes back into its pool when the count drops below it again."""
        if not clues:
            return
        counts = await self._store.execute(
            [Incr(SERVE_KEY.format(c.clue_id), -1, self._ttl) for c in clues]
        )
        for clue, count in zip(clues, counts, strict=True):
            if count < self._limit and clue.clue_id not in self._where:
                self._restore(clue)

    def _restore(self, clue: PublicClue) -> None:
        home = self._homes.pop(clue.clue_id, None)
        if home is None:  # not withdrawn here (or the index was replaced since)
            return
        tier, letter = home
        pool = self._pools[tier].setdefault(letter, [])
        self._where[clue.clue_id] = (tier, letter, len(pool))
        pool.append(clue)
        self._dropped.discard(clue.clue_id)
        metrics.BANK_FRESH.labels(str(tier)).inc()

    def _add_gate(
        self,
        tier: int,
        length: int,
        used: set[int],
        words: list[str],
        gates: list[list[PublicClue]],
    ) -> None:
        chosen = self._pick_gate(tier, length, used, set(words))
        if chosen is None:
            raise BankError(
                f"the clue bank has too few distinct clues at tier {tier} for "
                f"{len(gates) + 1} hidden word(s) of {length} letters"
            )
        words.append(chosen[0])
        gates.append(chosen[1])

    def _repick(
        self,
        tier: int,
        used: set[int],
        over: set[int],
        words: list[str],
        gates: list[list[PublicClue]],
    ) -> list[PublicClue]:
        """Replace clues past the limit (same initial); an unmendable gate gets a new word.

        Returns the newly chosen clues, which still have to be counted.  ``used`` keeps the ids of
        the replaced clues so they cannot come back in this puzzle.
        """
        fresh: list[PublicClue] = []
        pools = self._pools[tier]
        for g, gate in enumerate(gates):
            if not any(c.clue_id in over for c in gate):
                continue
            mended: list[PublicClue] = []
            replaced: list[PublicClue] = []
            for pos, clue in enumerate(gate):
                if clue.clue_id in over:
                    new = self._pick_clue(pools.get(words[g][pos], []), used)
                    if new is None:
                        break
                    used.add(new.clue_id)
                    replaced.append(new)
                    mended.append(new)
                else:
                    mended.append(clue)
            else:
                fresh.extend(replaced)
                gates[g] = mended
                continue
            # No clue left for some letter: give this gate another word of the same length.
            others = words[:g] + words[g + 1 :]
            chosen = self._pick_gate(tier, len(words[g]), used, {*others, words[g]})
            if chosen is None:
                raise BankError(
                    f"the clue bank ran dry at tier {tier}: every remaining clue for a letter "
                    f"has been served {self._limit} time(s)"
                )
            words[g], gates[g] = chosen
            fresh.extend(chosen[1])
        return fresh

    def price_basis(self) -> dict[int, dict[str, object]]:
        """Per tier, what the prices of the clues this composer can serve rest on."""
        result: dict[int, dict[str, object]] = {}
        for tier, pools in sorted(self._pools.items()):
            clues = [clue for pool in pools.values() for clue in pool]
            measured = [clue for clue in clues if clue.measured_by]
            basis = price_basis(len(clues), len(measured), (c.measured_by for c in measured))
            costs = sorted(clue.cost for clue in clues)
            basis["median_tokens"] = costs[len(costs) // 2] if costs else 0
            result[tier] = basis
        return result

    async def _serve_whole(self, spec: PuzzleSpec) -> ComposedPuzzle | None:
        """``spec.gates`` live whole gates of ``spec.tier``, counted; ``None`` when there are none."""
        for _ in range(_ROUNDS):
            chosen = pick_whole(self._whole.get(spec.tier, ()), spec, self._clue, self._random)
            if chosen is None:
                return None
            clues = [clue for _, gate in chosen for clue in gate.clues]
            results = await self._store.execute(
                [Incr(SERVE_KEY.format(c.clue_id), 1, self._ttl) for c in clues]
            )
            over = False
            for clue, count in zip(clues, results, strict=True):
                if count >= self._limit:
                    self._drop(clue.clue_id)  # the gate is not picked again once a clue is out
                    over = over or count > self._limit
            if over:
                continue
            for clue in clues:
                self._served[clue.clue_id] += 1
            public = PublicPuzzle(tuple(gate for _, gate in chosen), spec.tier)
            return ComposedPuzzle(public=public, words=tuple(w.solution for w, _ in chosen))
        return None

    def served_counts(self) -> dict[int, int]:
        """Serves per clue id since the previous call (for ``ClueBank.record_serves``); resets."""
        counts, self._served = dict(self._served), Counter()
        return counts
