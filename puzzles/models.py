"""SQL models of the clue bank and the hidden-word list.

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
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
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


class PolicyChange(Base):
    """Audit trail: every policy the gate applied, when, from where and by whom.

    It lives with the bank because this module is the project's whole SQL schema (one metadata,
    one migration history).
    """

    __tablename__ = "policy_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    digest: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)  # file path, or "admin" for dashboard edits
    actor: Mapped[str] = mapped_column(String(200))  # "file-watch", "sighup", "startup", a user
    document: Mapped[str] = mapped_column(Text)


class ApiKey(Base):
    """An API key: the client it names, its pricing tier, and only a hash of the key itself."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tier: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
