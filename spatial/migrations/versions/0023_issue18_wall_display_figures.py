"""wall display figures: per-district counts, daily intake and closures, top categories, by index

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03

The wall display (``/screen``) refreshes one set of figures every minute for every wall that is
on: per district today's intake, open and overdue cases, the last 30 days' filings, closures and
on-time closures, available forces; the daily intake and closures of those days; the categories
reported most. Read through row-level security, the closures alone cost a policy check per
transition (the transition policy looks its case up, and that case's policy runs again): a
month of a city's transitions is seconds. As in migrations 0016 and 0021 the functions read as
the owner and apply the policies' own predicate themselves (the caller's unit subtree, narrowed
to its department), so the indexes answer: open cases by a partial index on their deadline, a
day's or a month's intake by the report time, a month's moves by the transitions' time.

Every figure is a count the formulas in ``command/screen_figures.py`` turn into rates.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the case policy's predicate (migration 0010) on an event aliased e
IN_SCOPE = """e.units @> ARRAY[cityops_scope_unit()]
          AND (cityops_scope_department() IS NULL OR e.departments @> ARRAY[cityops_scope_department()])"""
OPEN = "e.state NOT IN ('closed', 'void')"


def upgrade() -> None:
    op.execute(f"""
    CREATE INDEX ix_event_filed_at ON event (filed_at);
    CREATE INDEX ix_event_open_deadline ON event (deadline) WHERE state NOT IN ('closed', 'void');

    -- per district (the case's second unit: 江北新区 for the streets it manages): received since day_start
    -- (voided reports are not intake), open, open past the deadline; filed, closed, closed by the deadline
    -- in force since ``since``; available forces (the force policy's predicate, migration 0012)
    CREATE FUNCTION cityops_screen_districts(day_start timestamptz, since timestamptz)
    RETURNS TABLE (district bigint, received_today bigint, open bigint, overdue bigint, filed bigint,
                   closed bigint, closed_on_time bigint, forces_available bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        WITH cases AS (
            SELECT e.units[2] AS district,
                   count(*) FILTER (WHERE e.filed_at >= day_start AND e.state <> 'void') AS received_today,
                   count(*) FILTER (WHERE {OPEN}) AS open,
                   count(*) FILTER (WHERE {OPEN} AND e.deadline < now()) AS overdue
            FROM event e
            WHERE ({OPEN} OR e.filed_at >= day_start) AND {IN_SCOPE}
            GROUP BY 1
        ), moves AS (
            SELECT e.units[2] AS district, count(*) FILTER (WHERE t.action = 'file') AS filed,
                   count(*) FILTER (WHERE t.action = 'close') AS closed,
                   count(*) FILTER (WHERE t.action = 'close' AND t.at <= t.deadline) AS closed_on_time
            FROM case_transition t JOIN event e ON e.id = t.event_id
            WHERE t.at >= since AND t.action IN ('file', 'close') AND {IN_SCOPE}
            GROUP BY 1
        ), forces AS (
            SELECT f.units[2] AS district, count(*) AS forces_available FROM force f
            WHERE f.status = 'available' AND f.units @> ARRAY[cityops_scope_unit()]
              AND (cityops_scope_department() IS NULL OR f.department = cityops_scope_department())
            GROUP BY 1
        )
        SELECT coalesce(c.district, m.district, f.district), coalesce(c.received_today, 0), coalesce(c.open, 0),
               coalesce(c.overdue, 0), coalesce(m.filed, 0), coalesce(m.closed, 0), coalesce(m.closed_on_time, 0),
               coalesce(f.forces_available, 0)
        FROM cases c FULL JOIN moves m ON m.district = c.district
        FULL JOIN forces f ON f.district = coalesce(c.district, m.district)
    $$;

    -- per day (in ``zone``) since ``since``: cases received (not voided) and cases closed
    CREATE FUNCTION cityops_screen_days(since timestamptz, zone text)
    RETURNS TABLE (day date, received bigint, closed bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        WITH received AS (
            SELECT (e.filed_at AT TIME ZONE zone)::date AS day, count(*) AS n FROM event e
            WHERE e.filed_at >= since AND e.state <> 'void' AND {IN_SCOPE} GROUP BY 1
        ), closed AS (
            SELECT (t.at AT TIME ZONE zone)::date AS day, count(*) AS n
            FROM case_transition t JOIN event e ON e.id = t.event_id
            WHERE t.at >= since AND t.action = 'close' AND {IN_SCOPE} GROUP BY 1
        )
        SELECT coalesce(r.day, c.day), coalesce(r.n, 0), coalesce(c.n, 0)
        FROM received r FULL JOIN closed c ON c.day = r.day
    $$;

    -- the categories received most since ``since`` (not voided), most first
    CREATE FUNCTION cityops_screen_categories(since timestamptz, n int)
    RETURNS TABLE (category_code text, received bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT e.category_code::text, count(*) FROM event e
        WHERE e.filed_at >= since AND e.state <> 'void' AND {IN_SCOPE}
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT n
    $$;
    REVOKE EXECUTE ON FUNCTION cityops_screen_districts(timestamptz, timestamptz),
        cityops_screen_days(timestamptz, text), cityops_screen_categories(timestamptz, int) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION cityops_screen_districts(timestamptz, timestamptz),
        cityops_screen_days(timestamptz, text), cityops_screen_categories(timestamptz, int) TO cityops_api;
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION cityops_screen_categories(timestamptz, int);
    DROP FUNCTION cityops_screen_days(timestamptz, text);
    DROP FUNCTION cityops_screen_districts(timestamptz, timestamptz);
    DROP INDEX ix_event_open_deadline, ix_event_filed_at;
    """)
