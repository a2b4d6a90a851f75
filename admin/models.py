"""The dashboard's SQL tables, on the bank's ``Base`` so one metadata (and one migration history)
covers the whole schema."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from puzzles.models import Base


class AdminUser(Base):
    """A dashboard login; only an Argon2id hash of the password is kept."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    def __repr__(self) -> str:  # the hash stays out of logs
        return f"AdminUser(id={self.id!r}, username={self.username!r})"


class AdminAction(Base):
    """Audit trail of the dashboard: who did what to whom (policy edits also land in
    ``policy_changes`` through the policy store)."""

    __tablename__ = "admin_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class LedgerSample(Base):
    """Totals of every client's ledger at one moment: the history behind the overview's charts.

    Counters only grow (until a ledger expires), so the chart plots differences between samples.
    """

    __tablename__ = "ledger_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    identities: Mapped[int] = mapped_column(Integer, default=0)
    issued: Mapped[int] = mapped_column(BigInteger, default=0)
    solved: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    served: Mapped[int] = mapped_column(BigInteger, default=0)
    throttled: Mapped[int] = mapped_column(BigInteger, default=0)
