"""cases (event) and the reports that created or joined them

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

A case is the incident the city handles once; a report is each submission about it (a grid
worker's tag, a 12345 call, an app report, a sensor warning). Reporter contact is personal data:
kept on the report, never copied to the case. ``idempotency_key`` makes a retried submission
land once, enforced by the database.
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEVERITY = postgresql.ENUM("IV", "III", "II", "I", name="severity")
SOURCE = postgresql.ENUM("grid_worker", "hotline", "citizen_app", "sensor", "department", name="report_source")
POINT = geoalchemy2.Geometry(geometry_type="POINT", srid=4326, spatial_index=False, nullable=False)


def upgrade() -> None:
    op.create_geospatial_table(
        "event",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("category_code", sa.String(16), sa.ForeignKey("category.code"), nullable=False),
        sa.Column("severity", SEVERITY, nullable=False),
        sa.Column("state", sa.Text(), nullable=False, server_default="reported"),
        sa.Column("geom", POINT, nullable=False),
        sa.Column("cell", sa.BigInteger(), nullable=False),
        sa.Column("grid_id", sa.BigInteger(), sa.ForeignKey("unit.id"), nullable=False),
        sa.Column("responsible_unit_id", sa.BigInteger(), sa.ForeignKey("unit.id"), nullable=False),
        sa.Column("departments", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("routing_trace", postgresql.JSONB(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.Text()),
        sa.Column("report_count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index("idx_event_geom", "event", ["geom"], postgresql_using="gist", postgresql_ops={})
    op.create_index("ix_event_cell", "event", ["cell"])
    op.create_index("ix_event_responsible", "event", ["responsible_unit_id"])
    op.create_geospatial_table(
        "report",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), sa.ForeignKey("event.id"), nullable=False),
        sa.Column("source", SOURCE, nullable=False),
        sa.Column("reporter", postgresql.JSONB()),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.Text()),
        sa.Column("geom", POINT, nullable=False),
        sa.Column("given", postgresql.JSONB(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), unique=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_event", "report", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_report_event", table_name="report")
    op.drop_geospatial_table("report")
    op.drop_index("ix_event_responsible", table_name="event")
    op.drop_index("ix_event_cell", table_name="event")
    op.drop_geospatial_index("idx_event_geom", table_name="event", postgresql_using="gist", column_name="geom")
    op.drop_geospatial_table("event")
    SOURCE.drop(op.get_bind(), checkfirst=True)
    SEVERITY.drop(op.get_bind(), checkfirst=True)
