"""SQL models of the clue bank, the hidden-word list, factory jobs and published gates.

``Base`` carries the metadata of the whole database: the operator's tables (``operator_state.models``)
sit on it too, so one migration history (``puzzles.migrations``) covers every table.  Each module
with tables is a ``reasoning_gate.models`` entry point (``pyproject.toml``): that is how the
migrations find the tables of packages above this one without importing them.

Free-text columns are ``Text`` on purpose: rejected drafts are stored as they came (a too-long clue
is one reason to reject), and a length limit here would turn a rejection into an insert error.
Constraint names follow a fixed convention so that migrations (Alembic, later) can refer to them
portably.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Expected solver tokens of an uncalibrated clue, by tier; calibration replaces it per clue.
TIER_EXPECTED_TOKENS: Final[dict[int, int]] = {1: 150, 2: 300, 3: 600}

VERIFIED: Final = "verified"
UNVERIFIED: Final = "unverified"
REJECTED: Final = "rejected"
CLUE_STATUSES: Final = (VERIFIED, UNVERIFIED, REJECTED)

WORD_MIN, WORD_MAX = 4, 12


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """A model's table, typed as the ``Table`` it is (SQLAlchemy declares ``__table__`` as the
    wider ``FromClause``, which has no ``insert``/``update``)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Clue(Base):
    """One clue: a question in a domain whose answer starts with ``initial``.

    Only ``verified`` and not ``retired`` clues are ever served.  ``text_key`` is the normalised
    text (see ``puzzles.bank.text_key``) and is unique, so re-importing the same clue is a no-op.
    """

    __tablename__ = "clues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    text_key: Mapped[str] = mapped_column(String(320), unique=True)
    answer: Mapped[str] = mapped_column(Text)
    initial: Mapped[str] = mapped_column(String(1))  # "" only for rejected clues without a letter
    tier: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    relation: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default=VERIFIED, server_default=VERIFIED)
    reject_reason: Mapped[str | None] = mapped_column(Text, default=None)
    expected_tokens: Mapped[int] = mapped_column(Integer)
    times_served: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_clues_tier_initial", "tier", "initial"),
        CheckConstraint(
            "status IN ('verified', 'unverified', 'rejected')",
            name="status",
        ),
        CheckConstraint(
            "status = 'rejected' OR reject_reason IS NULL", name="reason_only_if_rejected"
        ),
    )

    def __repr__(self) -> str:  # answers stay out of logs
        return f"Clue(id={self.id!r}, tier={self.tier!r}, status={self.status!r})"


class Word(Base):
    """A candidate hidden word: lowercase a-z, ``WORD_MIN``..``WORD_MAX`` letters."""

    __tablename__ = "words"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    word: Mapped[str] = mapped_column(String(WORD_MAX), unique=True)
    length: Mapped[int] = mapped_column(SmallInteger)

    def __repr__(self) -> str:
        return f"Word(id={self.id!r}, length={self.length!r})"


# -- puzzle factory jobs (see puzzles.factory.jobs) ------------------------------------------------

JOB_KINDS: Final = ("generate", "verify", "calibrate", "import")
ITEM_PENDING: Final = "pending"
ITEM_ACCEPTED: Final = "accepted"
ITEM_REJECTED: Final = "rejected"


class FactoryJob(Base):
    """One batch run of the puzzle factory; its items are its unit of resumption.

    ``params`` is the JSON of the options the job was started with: a restart with the same
    options finds the unfinished job and continues it instead of starting over.
    """

    __tablename__ = "factory_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    params: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="running", server_default="running")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (
        CheckConstraint("kind IN ('generate', 'verify', 'calibrate', 'import')", name="kind"),
        CheckConstraint("status IN ('running', 'done')", name="status"),
    )


class FactoryItem(Base):
    """One target (generate) or one clue (verify, calibrate) of a job, with its cost and outcome.

    The token columns hold everything spent on the item, rejected attempts included, so a clue's
    cost is the sum over the items linked to it and a bank's cost per accepted clue is the sum over
    all items divided by the clues accepted.  ``gen_*`` are generation calls, ``solve_*`` solver
    calls (verification or calibration).  ``target`` is the JSON of what was asked (for generate
    items it may hold the answer: it never leaves the operator's database).
    """

    __tablename__ = "factory_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("factory_jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # target index, or the clue id
    target: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    status: Mapped[str] = mapped_column(
        String(16), default=ITEM_PENDING, server_default=ITEM_PENDING
    )
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    clue_id: Mapped[int | None] = mapped_column(
        ForeignKey("clues.id", ondelete="SET NULL"), default=None, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    gen_prompt_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    gen_completion_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    solve_prompt_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    solve_completion_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    gen_model: Mapped[str] = mapped_column(Text, default="", server_default="")
    solver_models: Mapped[str] = mapped_column(Text, default="", server_default="")
    detail: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    __table_args__ = (
        UniqueConstraint("job_id", "position"),
        Index("ix_factory_items_job_id_status", "job_id", "status"),
        CheckConstraint("status IN ('pending', 'accepted', 'rejected')", name="status"),
    )

    def __repr__(self) -> str:  # targets may hold answers: keep them out of logs
        return f"FactoryItem(id={self.id!r}, status={self.status!r}, reason={self.reason!r})"


class PublishedGate(Base):
    """A gate imported whole from a published gate set, served as published when the composer is
    asked to (``BankComposer(whole_gates=...)``): its clues in order, its solution as the word.

    ``solution`` is lowercase a-z and may be longer than ``WORD_MAX`` (it never enters the word
    list).  ``gate_key`` (a digest of the solution and the clue ids) makes re-imports a no-op.  The
    gate is served only while every one of its clues is servable (verified, not retired).
    """

    __tablename__ = "published_gates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gate_key: Mapped[str] = mapped_column(String(64), unique=True)
    solution: Mapped[str] = mapped_column(Text)
    length: Mapped[int] = mapped_column(SmallInteger)
    tier: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def __repr__(self) -> str:  # the solution is the gate's answer: keep it out of logs
        return f"PublishedGate(id={self.id!r}, length={self.length!r}, tier={self.tier!r})"


class PublishedGateClue(Base):
    """Clue ``position`` (0-based) of a published gate."""

    __tablename__ = "published_gate_clues"

    gate_id: Mapped[int] = mapped_column(
        ForeignKey("published_gates.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    clue_id: Mapped[int] = mapped_column(ForeignKey("clues.id", ondelete="CASCADE"), index=True)


class ServeSample(Base):
    """Clues served in one tier between two flushes of one process: the bank's serve rate.

    Written with every flush of serve counts (``ClueBank.record_serves``), read over a window for
    the serve rate and time to exhaustion (``puzzles.health``); rows older than a week are pruned.
    """

    __tablename__ = "serve_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    tier: Mapped[int] = mapped_column(Integer)
    served: Mapped[int] = mapped_column(Integer)
