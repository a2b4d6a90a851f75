"""Serve samples: clues served per tier per flush, for the bank's serve rate and time to exhaustion.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "serve_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("served", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serve_samples")),
    )
    op.create_index(op.f("ix_serve_samples_at"), "serve_samples", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_serve_samples_at"), table_name="serve_samples")
    op.drop_table("serve_samples")
