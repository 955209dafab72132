"""command map: a label point per unit, open-case counts per unit, the daily flow of cases

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03

A map without a basemap orients itself by the hierarchy's names: each unit keeps a point where
its name is written (``label_point``, ``ST_PointOnSurface``: inside the unit even when the
unit is a crescent or a multipolygon, which a centroid is not), kept by a trigger whenever a
boundary is written, indexed so a view asks for the names in its box.

Zoomed out, the command map draws one bubble per district or street with its open and overdue
cases. ``cityops_open_case_counts`` counts them for the units asked, as the owner applying the
case policy's own predicate (migration 0010), like ``cityops_case_points`` (migration 0016): the
policy's ``@>`` is not leakproof, so under row-level security the query could not use the index.
The open cases' GIN index answers "any of these units"; a case counts once, for the first of them
in its chain (a street 江北新区 manages has both 江北新区 and its administrative district above it:
its cases count for 江北新区, the management parent, and the districts' bubbles add up).

The KPI panel's trend (cases reported and closed per Beijing day, last weeks) is
``cityops_daily_flow``: two index range scans (created, closed) under the same predicate.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

API_ROLE = "cityops_api"
SCOPE = """units @> ARRAY[cityops_scope_unit()]
          AND (cityops_scope_department() IS NULL OR departments @> ARRAY[cityops_scope_department()])"""


def upgrade() -> None:
    op.execute(f"""
    ALTER TABLE unit ADD COLUMN label_point geometry(Point, 4326);
    UPDATE unit SET label_point = ST_PointOnSurface(geom);
    CREATE INDEX ix_unit_label_point ON unit USING gist (label_point);
    CREATE FUNCTION cityops_unit_label_point() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.label_point := ST_PointOnSurface(NEW.geom);
        RETURN NEW;
    END $$;
    CREATE TRIGGER unit_label_point BEFORE INSERT OR UPDATE OF geom ON unit
        FOR EACH ROW EXECUTE FUNCTION cityops_unit_label_point();

    CREATE INDEX ix_event_open_units ON event USING gin (units) WHERE state NOT IN ('closed', 'void');
    CREATE INDEX ix_event_created_at ON event (created_at);
    CREATE INDEX ix_event_closed_at ON event (closed_at) WHERE closed_at IS NOT NULL;

    CREATE FUNCTION cityops_open_case_counts(wanted bigint[])
    RETURNS TABLE (unit_id bigint, open bigint, overdue bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT counted, count(*), count(*) FILTER (WHERE deadline < now()) FROM (
            SELECT (SELECT u FROM unnest(units) WITH ORDINALITY AS chain(u, i) WHERE u = ANY(wanted)
                    ORDER BY i LIMIT 1) AS counted, deadline
            FROM event WHERE state NOT IN ('closed', 'void') AND units && wanted AND {SCOPE}
        ) open_cases GROUP BY counted
    $$;
    CREATE FUNCTION cityops_daily_flow(since timestamptz, zone text)
    RETURNS TABLE (day date, reported bigint, closed bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT day, sum(reported)::bigint, sum(closed)::bigint FROM (
            SELECT (created_at AT TIME ZONE zone)::date AS day, 1 AS reported, 0 AS closed FROM event
            WHERE created_at >= since AND {SCOPE}
            UNION ALL
            SELECT (closed_at AT TIME ZONE zone)::date, 0, 1 FROM event
            WHERE closed_at >= since AND state = 'closed' AND {SCOPE}
        ) flow GROUP BY day ORDER BY day
    $$;
    REVOKE EXECUTE ON FUNCTION cityops_open_case_counts(bigint[]), cityops_daily_flow(timestamptz, text)
        FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION cityops_open_case_counts(bigint[]), cityops_daily_flow(timestamptz, text)
        TO {API_ROLE};
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION cityops_daily_flow(timestamptz, text);
    DROP FUNCTION cityops_open_case_counts(bigint[]);
    DROP INDEX ix_event_closed_at;
    DROP INDEX ix_event_created_at;
    DROP INDEX ix_event_open_units;
    DROP TRIGGER unit_label_point ON unit;
    DROP FUNCTION cityops_unit_label_point();
    ALTER TABLE unit DROP COLUMN label_point;
    """)
