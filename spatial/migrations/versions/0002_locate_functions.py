"""locate: subdivided unit pieces; the rare branches (boundary cells, buildings) as functions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The locate query stays two primary-key probes (cell, then unit). The exact test among a boundary
cell's candidates and the building probe run only when needed, as function calls whose plans
PL/pgSQL caches per session; written as sub-plans of the main statement they cost every
execution their start-up, and their generic plans could degrade to sequential scans.

Units along district lines carry thousands of vertices; testing a point against them detoasts
and scans the whole outline. unit_piece holds the coverage tier cut by ST_Subdivide into pieces
of at most 64 vertices, so the exact test reads one small row through its own GiST index.
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_geospatial_table(
        "unit_piece",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.Geometry(geometry_type="POLYGON", srid=4326, spatial_index=False, nullable=False),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index(
        "idx_unit_piece_geom", "unit_piece", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_unit_piece_unit_id"), "unit_piece", ["unit_id"], unique=False)
    op.execute("""
    CREATE FUNCTION cityops_pick(candidates bigint[], lon float8, lat float8, snap float8)
    RETURNS bigint LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
    -- The first candidate (lowest code) covering the point; failing that, the first within
    -- snap degrees (the point sits in an overlay sliver between two units).
    DECLARE
        point geometry := ST_SetSRID(ST_MakePoint(lon, lat), 4326);
        found bigint;
    BEGIN
        SELECT cand.id INTO found FROM unnest(candidates) WITH ORDINALITY AS cand(id, n)
        WHERE EXISTS (SELECT 1 FROM unit_piece p WHERE p.unit_id = cand.id AND p.geom && point
                      AND ST_Covers(p.geom, point))
        ORDER BY cand.n LIMIT 1;
        IF found IS NULL THEN
            SELECT cand.id INTO found FROM unnest(candidates) WITH ORDINALITY AS cand(id, n)
            WHERE EXISTS (SELECT 1 FROM unit_piece p WHERE p.unit_id = cand.id
                          AND ST_DWithin(p.geom, point, snap))
            ORDER BY cand.n LIMIT 1;
        END IF;
        RETURN found;
    END $$
    """)
    op.execute("""
    CREATE FUNCTION cityops_building_at(grid bigint, lon float8, lat float8)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
    -- The building of this grid that covers the point, as the JSON locate returns; probed by
    -- parent (a grid has tens of buildings), not through the GiST index of every unit.
    DECLARE
        point geometry := ST_SetSRID(ST_MakePoint(lon, lat), 4326);
        found text;
    BEGIN
        SELECT json_build_object('code', b.code, 'name', b.name, 'tier', b.tier, 'kind', b.kind,
                                 'synthetic', b.synthetic)::text INTO found
        FROM (SELECT code, name, tier, kind, synthetic, geom FROM unit
              WHERE parent_id = grid AND tier = 'building' OFFSET 0) AS b
        WHERE ST_Covers(b.geom, point) ORDER BY b.code LIMIT 1;
        RETURN found;
    END $$
    """)


def downgrade() -> None:
    op.execute("DROP FUNCTION cityops_building_at(bigint, float8, float8)")
    op.execute("DROP FUNCTION cityops_pick(bigint[], float8, float8, float8)")
    op.drop_index(op.f("ix_unit_piece_unit_id"), table_name="unit_piece")
    op.drop_geospatial_index(
        "idx_unit_piece_geom", table_name="unit_piece", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("unit_piece")
