"""wall figures planned with the caller's scope known: the city's wall paints in a fraction of the time

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03

Migration 0023's functions applied the case policy's predicate with the scope read from the
session (``cityops_scope_unit()``), a value the planner cannot see: it estimated that a unit's
subtree holds a few hundred cases (the generic estimate of ``units @> ARRAY[?]``), so for a
city's wall, whose subtree is every case, it chose the GIN index, a sort and a nested loop per
case into the transitions — 330 ms for the district table and 250 ms for the daily series on
35,000 cases, the largest part of the wall's first paint. The same statements now run through
``EXECUTE`` with the scope written into the text, so each call is planned knowing whose wall
asks: a city scope reads the table once and hashes, a street scope keeps the index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the case policy's predicate (migration 0010) on an event aliased e, the scope as literals: %1$L unit, %2$L department
IN_SCOPE = """e.units @> ARRAY[%1$L::bigint]
          AND (%2$L::text IS NULL OR e.departments @> ARRAY[%2$L::text])"""
OPEN = "e.state NOT IN ('closed', 'void')"
SCOPE = "cityops_scope_unit(), cityops_scope_department()"


def upgrade() -> None:
    op.execute(f"""
    CREATE OR REPLACE FUNCTION cityops_screen_districts(day_start timestamptz, since timestamptz)
    RETURNS TABLE (district bigint, received_today bigint, open bigint, overdue bigint, filed bigint,
                   closed bigint, closed_on_time bigint, forces_available bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
    BEGIN
        RETURN QUERY EXECUTE format($q$
        WITH cases AS (
            SELECT e.units[2] AS district,
                   count(*) FILTER (WHERE e.filed_at >= $1 AND e.state <> 'void') AS received_today,
                   count(*) FILTER (WHERE {OPEN}) AS open,
                   count(*) FILTER (WHERE {OPEN} AND e.deadline < now()) AS overdue
            FROM event e
            WHERE ({OPEN} OR e.filed_at >= $1) AND {IN_SCOPE}
            GROUP BY 1
        ), moves AS (
            SELECT e.units[2] AS district, count(*) FILTER (WHERE t.action = 'file') AS filed,
                   count(*) FILTER (WHERE t.action = 'close') AS closed,
                   count(*) FILTER (WHERE t.action = 'close' AND t.at <= t.deadline) AS closed_on_time
            FROM case_transition t JOIN event e ON e.id = t.event_id
            WHERE t.at >= $2 AND t.action IN ('file', 'close') AND {IN_SCOPE}
            GROUP BY 1
        ), forces AS (
            SELECT f.units[2] AS district, count(*) AS forces_available FROM force f
            WHERE f.status = 'available' AND f.units @> ARRAY[%1$L::bigint]
              AND (%2$L::text IS NULL OR f.department = %2$L::text)
            GROUP BY 1
        )
        SELECT coalesce(c.district, m.district, f.district), coalesce(c.received_today, 0), coalesce(c.open, 0),
               coalesce(c.overdue, 0), coalesce(m.filed, 0), coalesce(m.closed, 0), coalesce(m.closed_on_time, 0),
               coalesce(f.forces_available, 0)
        FROM cases c FULL JOIN moves m ON m.district = c.district
        FULL JOIN forces f ON f.district = coalesce(c.district, m.district)
        $q$, {SCOPE}) USING day_start, since;
    END
    $fn$;

    CREATE OR REPLACE FUNCTION cityops_screen_days(since timestamptz, zone text)
    RETURNS TABLE (day date, received bigint, closed bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
    BEGIN
        RETURN QUERY EXECUTE format($q$
        WITH received AS (
            SELECT (e.filed_at AT TIME ZONE $2)::date AS day, count(*) AS n FROM event e
            WHERE e.filed_at >= $1 AND e.state <> 'void' AND {IN_SCOPE} GROUP BY 1
        ), closed AS (
            SELECT (t.at AT TIME ZONE $2)::date AS day, count(*) AS n
            FROM case_transition t JOIN event e ON e.id = t.event_id
            WHERE t.at >= $1 AND t.action = 'close' AND {IN_SCOPE} GROUP BY 1
        )
        SELECT coalesce(r.day, c.day), coalesce(r.n, 0), coalesce(c.n, 0)
        FROM received r FULL JOIN closed c ON c.day = r.day
        $q$, {SCOPE}) USING since, zone;
    END
    $fn$;

    CREATE OR REPLACE FUNCTION cityops_screen_categories(since timestamptz, n int)
    RETURNS TABLE (category_code text, received bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
    BEGIN
        RETURN QUERY EXECUTE format($q$
        SELECT e.category_code::text, count(*) FROM event e
        WHERE e.filed_at >= $1 AND e.state <> 'void' AND {IN_SCOPE}
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2
        $q$, {SCOPE}) USING since, n;
    END
    $fn$;
    """)


def downgrade() -> None:
    """Nothing to undo: the functions answer exactly as 0023's did (only their plans differ), and 0023's
    downgrade drops them whichever body they have."""
