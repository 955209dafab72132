"""media, merge history, historic imports, public tokens

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Media are content-addressed: a file is stored once under its SHA-256 however many reports
attach it. Every merge and split is a row in ``case_merge`` so a case's history can be read
back and undone. Historic events come in batches (``import_batch``) with their external ids,
so re-importing a file cannot double a city's history. A report's ``token`` is the public
handle Open311 clients use; it reveals nothing about row counts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCE = postgresql.ENUM(name="report_source", create_type=False)
MERGE_KIND = postgresql.ENUM("auto", "manual", "split", name="merge_kind")


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_table(
        "report_media",
        sa.Column("report_id", sa.BigInteger(), sa.ForeignKey("report.id"), primary_key=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("media.sha256"), primary_key=True),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("filename", sa.Text()),
    )
    op.create_table(
        "case_merge",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("kind", MERGE_KIND, nullable=False),
        sa.Column("report_id", sa.BigInteger(), sa.ForeignKey("report.id")),
        sa.Column("from_event_id", sa.BigInteger(), sa.ForeignKey("event.id")),
        sa.Column("to_event_id", sa.BigInteger(), sa.ForeignKey("event.id"), nullable=False),
        sa.Column("distance_m", sa.Float()),
        sa.Column("similarity", sa.Float()),
        sa.Column("actor", sa.Text()),
        sa.Column("reason", sa.Text()),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_case_merge_to", "case_merge", ["to_event_id"])
    op.create_index("ix_case_merge_from", "case_merge", ["from_event_id"])
    op.create_index("ix_case_merge_report", "case_merge", ["report_id"])
    op.create_table(
        "import_batch",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_loaded", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.add_column("event", sa.Column("source", SOURCE))
    op.add_column("event", sa.Column("merged_into", sa.BigInteger(), sa.ForeignKey("event.id")))
    op.add_column("event", sa.Column("closed_at", sa.DateTime(timezone=True)))
    op.add_column("event", sa.Column("external_id", sa.Text(), unique=True))
    op.add_column("event", sa.Column("import_batch_id", sa.Integer(), sa.ForeignKey("import_batch.id")))
    op.execute(
        "UPDATE event e SET source = (SELECT r.source FROM report r WHERE r.event_id = e.id ORDER BY r.id LIMIT 1)"
    )
    # every referencing column is indexed: deleting or merging a case must not scan the table
    op.create_index(
        "ix_event_merged_into", "event", ["merged_into"], postgresql_where=sa.text("merged_into IS NOT NULL")
    )
    op.create_index("ix_event_import_batch", "event", ["import_batch_id"])
    op.create_index("ix_report_created", "report", ["created_at"])
    op.add_column(
        "report",
        sa.Column("token", postgresql.UUID(), nullable=False, unique=True, server_default=sa.text("gen_random_uuid()")),
    )


def downgrade() -> None:
    op.drop_column("report", "token")
    op.drop_index("ix_report_created", table_name="report")
    op.drop_index("ix_event_import_batch", table_name="event")
    op.drop_index("ix_event_merged_into", table_name="event")
    for column in ("import_batch_id", "external_id", "closed_at", "merged_into", "source"):
        op.drop_column("event", column)
    op.drop_table("import_batch")
    op.drop_index("ix_case_merge_report", table_name="case_merge")
    op.drop_index("ix_case_merge_from", table_name="case_merge")
    op.drop_index("ix_case_merge_to", table_name="case_merge")
    op.drop_table("case_merge")
    MERGE_KIND.drop(op.get_bind(), checkfirst=True)
    op.drop_table("report_media")
    op.drop_table("media")
