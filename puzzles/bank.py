"""The SQL clue bank: import, dedup, statistics, serve accounting and the serve-time snapshot.

Writes are bulk and idempotent so that seeding at every start-up is safe (a second run inserts
nothing) and fast (thousands of clues in one multi-row ``INSERT .. ON CONFLICT DO NOTHING ..
RETURNING`` statement per page).  ``ON CONFLICT DO NOTHING`` is used on SQLite too instead of
``INSERT OR IGNORE``: both skip duplicate ``text_key`` rows, but ``OR IGNORE`` would also silently
swallow NOT NULL and CHECK violations, hiding real bugs.  ``RETURNING`` tells exactly which rows
were new, even when another replica seeds concurrently.

Drafts failing ``puzzles.validate.validate_clue`` are stored with status ``rejected`` and the reason
(the design keeps failing clues for review), and are never served: only ``verified``, non-retired
clues reach :meth:`ClueBank.load_index`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from puzzles.draft import ClueDraft
from puzzles.index import BankIndex, IndexedClue
from puzzles.models import (
    REJECTED,
    TIER_EXPECTED_TOKENS,
    UNVERIFIED,
    VERIFIED,
    WORD_MAX,
    WORD_MIN,
    Clue,
    FactoryItem,
    FactoryJob,
    ServeSample,
    Word,
    table_of,
)
from puzzles.validate import answer_initial, validate_clue

_T = TypeVar("_T")
_CHUNK = 2_000  # rows built in Python per statement; SQLAlchemy pages further for bind limits
_KEY_MAX = 256
_NON_ALNUM = re.compile(r"[\W_]+")
_WORD_RE = re.compile(rf"[a-z]{{{WORD_MIN},{WORD_MAX}}}")

_clues = table_of(Clue)
_words = table_of(Word)
_samples = table_of(ServeSample)
SAMPLE_KEEP = timedelta(days=7)


def text_key(text: str) -> str:
    """The dedup key of a clue text: NFKC, casefolded, punctuation and spacing collapsed.

    Digits are kept ("atomic number 6" and "atomic number 7" are different clues).  Very long texts
    (only ever rejected ones) are cut and suffixed with a digest so the key fits its indexed column.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    key = _NON_ALNUM.sub(" ", folded).strip()
    if len(key) > _KEY_MAX:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        key = f"{key[: _KEY_MAX - 33]}#{digest}"
    return key


@dataclass(frozen=True, slots=True)
class AddReport:
    """What :meth:`ClueBank.add_clues` did with each draft (the three counts sum to the input)."""

    added: int = 0  # newly stored with the requested status
    rejected: int = 0  # newly stored as rejected (failed validation)
    duplicates: int = 0  # skipped: same text_key already in the bank or earlier in the input
    reasons: Mapping[str, int] = field(default_factory=dict)  # rejection reason -> new rows

    @property
    def total(self) -> int:
        return self.added + self.rejected + self.duplicates


@dataclass(frozen=True, slots=True)
class SeedReport:
    clues: AddReport
    words_added: int

    @property
    def changed(self) -> bool:
        return bool(self.clues.added or self.clues.rejected or self.words_added)


@dataclass(frozen=True, slots=True)
class BankCounts:
    """Bank statistics: ``by_status`` covers every row, the other breakdowns servable clues."""

    total: int
    servable: int  # verified and not retired
    retired: int
    words: int
    by_status: Mapping[str, int]
    by_tier: Mapping[int, int]
    by_initial: Mapping[str, int]
    by_domain: Mapping[str, int]
    by_source: Mapping[str, int]


def _chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _servable() -> Any:
    return (_clues.c.status == VERIFIED) & (_clues.c.retired.is_(False))


class ClueBank:
    """Async access to the clue bank on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        dialect = engine.dialect.name
        # Either dialect's insert: both offer on_conflict_do_nothing, which is all we use.
        self._insert: Callable[[Any], Any]
        if dialect == "postgresql":
            self._insert = postgresql.insert
        elif dialect == "sqlite":
            self._insert = sqlite.insert
        else:  # the upsert syntax is dialect-specific; only these two are supported and tested
            raise ValueError(f"unsupported database dialect {dialect!r}")

    # -- writes ---------------------------------------------------------------------------------

    async def add_clues(self, drafts: Iterable[ClueDraft], *, status: str = VERIFIED) -> AddReport:
        """Validate and store ``drafts`` in one transaction; see :class:`AddReport` for the outcome.

        ``status`` applies to drafts that pass validation: ``verified`` (servable) or ``unverified``
        (awaiting model verification).  Failing drafts are stored as ``rejected`` with the reason.
        """
        if status not in (VERIFIED, UNVERIFIED):
            raise ValueError(
                "status must be 'verified' or 'unverified'; rejection is by validation"
            )
        seen: set[str] = set()
        added = rejected = duplicates = 0
        reasons: Counter[str] = Counter()
        async with self.engine.begin() as conn:
            for chunk in _chunks(drafts, _CHUNK):
                rows: list[dict[str, Any]] = []
                row_reasons: dict[str, str] = {}
                for draft in chunk:
                    key = text_key(draft.text)
                    if key in seen:
                        duplicates += 1
                        continue
                    seen.add(key)
                    reason = validate_clue(draft)
                    if reason is not None:
                        row_reasons[key] = reason
                    rows.append(_clue_row(draft, key, status, reason))
                if not rows:
                    continue
                stmt = (
                    self._insert(_clues)
                    .on_conflict_do_nothing(index_elements=[_clues.c.text_key])
                    .returning(_clues.c.text_key)
                )
                inserted = (await conn.execute(stmt, rows)).scalars().all()
                duplicates += len(rows) - len(inserted)
                for key in inserted:
                    reason = row_reasons.get(key)
                    if reason is None:
                        added += 1
                    else:
                        rejected += 1
                        reasons[reason] += 1
        return AddReport(added, rejected, duplicates, dict(reasons))

    async def add_words(self, words: Iterable[str]) -> int:
        """Store candidate hidden words; returns how many were new.

        Words are lowercased and stripped; anything that is not a-z of ``WORD_MIN``..``WORD_MAX``
        letters is ignored (hidden words must be typeable and spelled by clue initials a-z).
        """
        clean = sorted({w.strip().lower() for w in words} - {""})
        rows = [{"word": w, "length": len(w)} for w in clean if _WORD_RE.fullmatch(w)]
        if not rows:
            return 0
        stmt = (
            self._insert(_words)
            .on_conflict_do_nothing(index_elements=[_words.c.word])
            .returning(_words.c.id)
        )
        added = 0
        async with self.engine.begin() as conn:
            for chunk in _chunks(rows, _CHUNK):
                added += len((await conn.execute(stmt, chunk)).all())
        return added

    async def seed(self, drafts: Iterable[ClueDraft], words: Iterable[str]) -> SeedReport:
        """Add clues and words; idempotent, so it is safe to call at every start-up."""
        clues = await self.add_clues(drafts)
        return SeedReport(clues=clues, words_added=await self.add_words(words))

    async def record_serves(self, counts: Mapping[int, int]) -> None:
        """Add ``counts`` (clue id -> times served) to the clues' ``times_served`` in one batch."""
        params = [{"b_id": cid, "b_n": n} for cid, n in sorted(counts.items()) if n > 0]
        if not params:
            return
        stmt = (
            update(_clues)
            .where(_clues.c.id == bindparam("b_id"))
            .values(times_served=_clues.c.times_served + bindparam("b_n"))
        )
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            await conn.execute(stmt, params)
            per_tier: Counter[int] = Counter()
            for chunk in _chunks(sorted(counts), 500):
                rows = await conn.execute(
                    select(_clues.c.id, _clues.c.tier).where(_clues.c.id.in_(chunk))
                )
                for clue_id, tier in rows:
                    per_tier[tier] += counts[clue_id]
            if per_tier:
                await conn.execute(
                    insert(_samples),
                    [{"at": now, "tier": t, "served": n} for t, n in sorted(per_tier.items())],
                )
            # A week of samples is enough for any window the health figures use.
            await conn.execute(delete(_samples).where(_samples.c.at < now - SAMPLE_KEEP))

    async def retire_exhausted(self, serve_limit: int) -> int:
        """Rotation: retire servable clues SQL counts at ``serve_limit`` serves or more.

        A composer already leaves them out; retiring them makes the bank's figures (and every
        later start) say so, and keeps them from being served again if the limit is raised.
        """
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(_clues)
                .where(_servable() & (_clues.c.times_served >= serve_limit))
                .values(retired=True)
            )
        return int(result.rowcount or 0)

    async def retire(self, clue_ids: Iterable[int]) -> int:
        """Stop serving these clues (kept for history); returns how many were newly retired."""
        ids = sorted(set(clue_ids))
        retired = 0
        async with self.engine.begin() as conn:
            for chunk in _chunks(ids, 500):
                result = await conn.execute(
                    update(_clues)
                    .where(_clues.c.id.in_(chunk), _clues.c.retired.is_(False))
                    .values(retired=True)
                )
                retired += result.rowcount
        return retired

    # -- reads ----------------------------------------------------------------------------------

    async def is_empty(self) -> bool:
        """True when nothing can be composed: no servable clue or no word (time to seed)."""
        async with self.engine.connect() as conn:
            clue = await conn.scalar(select(_clues.c.id).where(_servable()).limit(1))
            word = await conn.scalar(select(_words.c.id).limit(1))
        return clue is None or word is None

    async def counts(self) -> BankCounts:
        async with self.engine.connect() as conn:
            by_status = await _group(conn, _clues.c.status)
            retired = await conn.scalar(
                select(func.count()).select_from(_clues).where(_clues.c.retired.is_(True))
            )
            words = await conn.scalar(select(func.count()).select_from(_words))
            by_tier = await _group(conn, _clues.c.tier, _servable())
            by_initial = await _group(conn, _clues.c.initial, _servable())
            by_domain = await _group(conn, _clues.c.domain, _servable())
            by_source = await _group(conn, _clues.c.source, _servable())
        return BankCounts(
            total=sum(by_status.values()),
            servable=sum(by_tier.values()),
            retired=retired or 0,
            words=words or 0,
            by_status=by_status,
            by_tier=by_tier,
            by_initial=by_initial,
            by_domain=by_domain,
            by_source=by_source,
        )

    async def served_out(self, serve_limit: int) -> set[int]:
        """Ids of servable clues SQL says were served ``serve_limit`` times or more.

        The store's live counters may be gone after a restart (the memory store, a Redis without
        persistence); SQL's ``times_served`` is not, so a composer starts with these withdrawn.
        """
        c = _clues.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(c.id).where(_servable() & (c.times_served >= serve_limit))
            )
            return set(rows.scalars())

    async def load_index(self) -> BankIndex:
        """Snapshot every servable clue (without answers) and every word for serve-time use."""
        c = _clues.c
        where = _servable()
        measured = measured_by()
        async with self.engine.connect() as conn:
            clue_rows = await conn.execute(
                select(
                    c.id,
                    c.tier,
                    c.initial,
                    c.domain,
                    c.text,
                    c.expected_tokens,
                    func.coalesce(measured.c.models, ""),
                )
                .select_from(_clues.outerjoin(measured, measured.c.clue_id == c.id))
                .where(where)
                .order_by(c.id)
            )
            clues = [IndexedClue(*row) for row in clue_rows]
            words = (await conn.execute(select(_words.c.word))).scalars().all()
        # Building takes a second or more for a large bank: off the event loop, so a live gate
        # reloading its index keeps answering meanwhile.
        return await asyncio.to_thread(BankIndex.build, clues, words)

    async def revision(self) -> tuple[int, int]:
        """(servable clues, highest servable id): changes when clues are added, retired or
        withdrawn, so a live gate can tell when to reload its index."""
        c = _clues.c
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(func.count(), func.coalesce(func.max(c.id), 0)).where(_servable())
                )
            ).one()
        return int(row[0]), int(row[1])


def measured_by() -> Any:
    """Clue id -> the reference models of its accepted calibration (the latest job's)."""
    items = table_of(FactoryItem)
    jobs = table_of(FactoryJob)
    return (
        select(items.c.clue_id, func.max(items.c.solver_models).label("models"))
        .join(jobs, jobs.c.id == items.c.job_id)
        .where(
            jobs.c.kind == "calibrate",
            items.c.status == "accepted",
            items.c.clue_id.is_not(None),
        )
        .group_by(items.c.clue_id)
        .subquery()
    )


def _clue_row(draft: ClueDraft, key: str, status: str, reason: str | None) -> dict[str, Any]:
    return {
        "domain": draft.domain.strip(),
        "text": draft.text.strip(),
        "text_key": key,
        "answer": draft.answer.strip(),
        "initial": answer_initial(draft.answer)[:1],
        "tier": draft.tier,
        "source": draft.source,
        "relation": draft.relation,
        "status": REJECTED if reason else status,
        "reject_reason": reason,
        "expected_tokens": TIER_EXPECTED_TOKENS.get(draft.tier, 0),
    }


async def _group(conn: AsyncConnection, column: Any, where: Any = None) -> dict[Any, int]:
    stmt = select(column, func.count()).group_by(column).order_by(column)
    if where is not None:
        stmt = stmt.where(where)
    return {key: n for key, n in (await conn.execute(stmt)).all()}
