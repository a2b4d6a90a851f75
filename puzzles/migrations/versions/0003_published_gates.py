"""Published gates: gates imported whole (``gate puzzles import --kind gates --whole``), their clues
in order, so the composer can serve a gate as published.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "published_gates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gate_key", sa.String(length=64), nullable=False),
        sa.Column("solution", sa.Text(), nullable=False),
        sa.Column("length", sa.SmallInteger(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("retired", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_gates")),
        sa.UniqueConstraint("gate_key", name=op.f("uq_published_gates_gate_key")),
    )
    op.create_table(
        "published_gate_clues",
        sa.Column("gate_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("clue_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clue_id"],
            ["clues.id"],
            name=op.f("fk_published_gate_clues_clue_id_clues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["gate_id"],
            ["published_gates.id"],
            name=op.f("fk_published_gate_clues_gate_id_published_gates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("gate_id", "position", name=op.f("pk_published_gate_clues")),
    )
    op.create_index(
        op.f("ix_published_gate_clues_clue_id"), "published_gate_clues", ["clue_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_published_gate_clues_clue_id"), table_name="published_gate_clues")
    op.drop_table("published_gate_clues")
    op.drop_table("published_gates")
