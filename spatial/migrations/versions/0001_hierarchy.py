"""hierarchy: units, boundary versions, H3 coverage

Revision ID: 0001
Revises:
Create Date: 2026-11-27 01:03:55.420895
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # PostGIS first: the embedded cluster already created it as superuser; an external database
    # needs it created by its administrator or a role allowed to (the statement is a no-op then).
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "boundary_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "tier",
            sa.Enum("city", "district", "street", "community", "grid", "building", name="tier"),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("unit_count", sa.Integer(), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "h3_coverage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "tier",
            sa.Enum("city", "district", "street", "community", "grid", "building", name="tier"),
            nullable=False,
        ),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("interior_cells", sa.Integer(), nullable=False),
        sa.Column("boundary_cells", sa.Integer(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_table(
        "unit",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "tier",
            sa.Enum("city", "district", "street", "community", "grid", "building", name="tier"),
            nullable=False,
        ),
        sa.Column("kind", sa.Enum("administrative", "management", name="unit_kind"), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("admin_parent_id", sa.BigInteger(), nullable=True),
        sa.Column("ancestors", sa.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("chain", postgresql.JSON(astext_type=sa.Text()), nullable=False),
        sa.Column("has_buildings", sa.Boolean(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("boundary_version_id", sa.Integer(), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_parent_id"],
            ["unit.id"],
        ),
        sa.ForeignKeyConstraint(
            ["boundary_version_id"],
            ["boundary_version.id"],
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_geospatial_index(
        "idx_unit_geom", "unit", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_unit_admin_parent_id"), "unit", ["admin_parent_id"], unique=False)
    op.create_index(op.f("ix_unit_parent_id"), "unit", ["parent_id"], unique=False)
    op.create_index(op.f("ix_unit_tier"), "unit", ["tier"], unique=False)
    op.create_table(
        "h3_cell",
        sa.Column("cell", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=True),
        sa.Column("candidates", sa.ARRAY(sa.BigInteger()), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("cell"),
    )


def downgrade() -> None:
    op.drop_table("h3_cell")
    op.drop_index(op.f("ix_unit_tier"), table_name="unit")
    op.drop_index(op.f("ix_unit_parent_id"), table_name="unit")
    op.drop_index(op.f("ix_unit_admin_parent_id"), table_name="unit")
    op.drop_geospatial_index("idx_unit_geom", table_name="unit", postgresql_using="gist", column_name="geom")
    op.drop_geospatial_table("unit")
    op.drop_table("h3_coverage")
    op.drop_table("boundary_version")
    sa.Enum(name="unit_kind").drop(op.get_bind(), checkfirst=True)
    sa.Enum(name="tier").drop(op.get_bind(), checkfirst=True)
