"""SQL tables of the operator's state that is not puzzles: policy versions and their audit trail,
identity overrides, API keys, dashboard logins and actions, ledger history.

They sit on the bank's ``Base`` so one metadata (and one migration history, ``puzzles.migrations``)
covers the whole database; the ``reasoning_gate.models`` entry point in ``pyproject.toml`` is how
the migrations, one layer down, find this module."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Integer,
    String,
    Text,
    false,
    func,
)
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


class PolicyChange(Base):
    """Audit trail: every policy the gate applied, when, from where and by whom."""

    __tablename__ = "policy_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    digest: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)  # file path, or "admin" for dashboard edits
    actor: Mapped[str] = mapped_column(String(200))  # "file-watch", "sighup", "startup", a user
    document: Mapped[str] = mapped_column(Text)


class PolicyVersion(Base):
    """A stored policy document; the newest version is what every replica runs.

    ``version`` only grows (the primary key), so a replica learns of a change with one cheap
    ``max(version)`` query.  Only documents that validated are ever stored.
    """

    __tablename__ = "policy_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(300))  # a dashboard user, or "file:<path>"
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IdentityOverride(Base):
    """An operator's override for one client identity: a pricing tier, or blocked outright.

    ``identity`` uses the gate's identity keys: ``net:<network>``, ``key:<API key name>``,
    ``bot:<bot name>``, or an adapter-given identity such as ``mcp:stdio``.
    """

    __tablename__ = "identity_overrides"

    identity: Mapped[str] = mapped_column(String(300), primary_key=True)
    tier: Mapped[str | None] = mapped_column(String(100), default=None)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    actor: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IdentityAction(Base):
    """Audit trail of operator actions on identities (override set or cleared, passes revoked).

    Append-only; its growing ``id`` also tells replicas that the overrides changed.
    """

    __tablename__ = "identity_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    identity: Mapped[str] = mapped_column(String(300), index=True)
    action: Mapped[str] = mapped_column(String(16))  # set, clear, revoke
    tier: Mapped[str | None] = mapped_column(String(100), default=None)
    blocked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    actor: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")

    __table_args__ = (CheckConstraint("action IN ('set', 'clear', 'revoke')", name="action"),)


class ApiKey(Base):
    """An API key: the client it names, its pricing tier, and only a hash of the key itself."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tier: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
