"""case categories (GB/T 30428 部件/事件 小类 with their standards)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIER = postgresql.ENUM(name="tier", create_type=False)


def upgrade() -> None:
    op.create_table(
        "category",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("major_code", sa.String(length=4), nullable=False),
        sa.Column("major_name", sa.Text(), nullable=False),
        sa.Column("major_name_en", sa.Text(), nullable=False),
        sa.Column("minor_code", sa.String(length=4), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("filing_condition", sa.Text(), nullable=False),
        sa.Column("closing_condition", sa.Text(), nullable=False),
        sa.Column("time_limit", sa.Float(), nullable=False),
        sa.Column("limit_kind", sa.String(length=16), nullable=False),
        sa.Column("responsible_tier", TIER, nullable=False),
        sa.Column("departments", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("duplicate_radius_m", sa.Float(), nullable=False),
        sa.Column("duplicate_window_hours", sa.Float(), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
        sa.CheckConstraint("type IN ('component', 'event')", name="category_type"),
        sa.CheckConstraint(
            "limit_kind IN ('urgent_hours', 'working_hours', 'working_days', 'calendar_days')",
            name="category_limit_kind",
        ),
        sa.CheckConstraint(
            "time_limit > 0 AND duplicate_radius_m >= 0 AND duplicate_window_hours >= 0", name="category_positive"
        ),
    )


def downgrade() -> None:
    op.drop_table("category")
