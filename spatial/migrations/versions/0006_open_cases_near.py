"""intake: lock the area, then find the open cases near a report — one call

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

Duplicate search must see every case committed by a report that held the same area lock, so
the search has to start after the lock is granted. Two statements would do it at the price of
a round trip per report; a VOLATILE PL/pgSQL function does it in one call, because each of its
statements takes a fresh snapshot under READ COMMITTED.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    CREATE FUNCTION cityops_open_cases_near(
        areas text[], cells bigint[], category text, lon float8, lat float8, window_hours float8, radius_m float8
    ) RETURNS TABLE (id bigint, distance_m float8, description text)
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        here geography := ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography;
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended(area, 0)) FROM unnest(areas) AS area ORDER BY area;
        RETURN QUERY
            SELECT e.id, ST_Distance(e.geom::geography, here), e.description
            FROM event e
            WHERE e.cell = ANY(cells) AND e.category_code = category
              AND e.merged_into IS NULL AND e.state NOT IN ('closed', 'void')
              AND e.created_at > now() - window_hours * interval '1 hour'
              AND ST_DWithin(e.geom::geography, here, radius_m)
            ORDER BY 2, 1
            LIMIT 20;
    END $$
    """)


def downgrade() -> None:
    op.execute("DROP FUNCTION cityops_open_cases_near(text[], bigint[], text, float8, float8, float8, float8)")
