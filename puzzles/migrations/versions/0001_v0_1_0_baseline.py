"""Baseline: the schema of release 0.1.0 (tables then made by ``metadata.create_all``).

A database made by 0.1.0 has these tables and no ``alembic_version``; ``gate db upgrade`` stamps it
at this revision before upgrading (see ``puzzles.migrations``).  Never edit this revision: it is the
contract with every 0.1.0 database in the field.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("tier", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_api_keys_name")),
    )
    op.create_table(
        "clues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_key", sa.String(length=320), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("initial", sa.String(length=1), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("relation", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="verified", nullable=False),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("expected_tokens", sa.Integer(), nullable=False),
        sa.Column("times_served", sa.Integer(), server_default="0", nullable=False),
        sa.Column("retired", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status = 'rejected' OR reject_reason IS NULL",
            name=op.f("ck_clues_reason_only_if_rejected"),
        ),
        sa.CheckConstraint(
            "status IN ('verified', 'unverified', 'rejected')", name=op.f("ck_clues_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clues")),
        sa.UniqueConstraint("text_key", name=op.f("uq_clues_text_key")),
    )
    op.create_index("ix_clues_tier_initial", "clues", ["tier", "initial"], unique=False)
    op.create_table(
        "factory_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('generate', 'verify', 'calibrate', 'import')",
            name=op.f("ck_factory_jobs_kind"),
        ),
        sa.CheckConstraint("status IN ('running', 'done')", name=op.f("ck_factory_jobs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_factory_jobs")),
        sa.UniqueConstraint("name", name=op.f("uq_factory_jobs_name")),
    )
    op.create_table(
        "policy_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "applied_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_changes")),
    )
    op.create_table(
        "words",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(length=12), nullable=False),
        sa.Column("length", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_words")),
        sa.UniqueConstraint("word", name=op.f("uq_words_word")),
    )
    op.create_table(
        "factory_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("target", sa.Text(), server_default="{}", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("clue_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("gen_prompt_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("gen_completion_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("solve_prompt_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("solve_completion_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("gen_model", sa.Text(), server_default="", nullable=False),
        sa.Column("solver_models", sa.Text(), server_default="", nullable=False),
        sa.Column("detail", sa.Text(), server_default="{}", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected')", name=op.f("ck_factory_items_status")
        ),
        sa.ForeignKeyConstraint(
            ["clue_id"],
            ["clues.id"],
            name=op.f("fk_factory_items_clue_id_clues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["factory_jobs.id"],
            name=op.f("fk_factory_items_job_id_factory_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_factory_items")),
        sa.UniqueConstraint("job_id", "position", name=op.f("uq_factory_items_job_id_position")),
    )
    op.create_index(op.f("ix_factory_items_clue_id"), "factory_items", ["clue_id"], unique=False)
    op.create_index(
        "ix_factory_items_job_id_status", "factory_items", ["job_id", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_factory_items_job_id_status", table_name="factory_items")
    op.drop_index(op.f("ix_factory_items_clue_id"), table_name="factory_items")
    for table in ("factory_items", "words", "policy_changes", "factory_jobs"):
        op.drop_table(table)
    op.drop_index("ix_clues_tier_initial", table_name="clues")
    op.drop_table("clues")
    op.drop_table("api_keys")
