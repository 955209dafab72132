"""evaluation by day or week: the planner's trends in one pass instead of one evaluation per point

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03

The planner's trend charts evaluate a unit day by day (or week by week). Each point was one call
of ``cityops_evaluation`` and ``cityops_satisfaction`` (migration 0015): thirty days of the city
were sixty scans of the unit's grids and of the rated reports, 9 s. The counts now live in
``cityops_evaluation_series`` and ``cityops_satisfaction_series``, which group by the local date
(``step`` 'day') or the local Monday (``step`` 'week') of ``zone`` as well as by the evaluation's
key; with no step there is one bucket, ``NULL``, the whole period. ``cityops_evaluation`` and
``cityops_satisfaction`` keep their signatures and answers and become that one-bucket call, so
an evaluation of a span and the point of a trend over the same span are the same SQL.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "filed",
    "closed",
    "closed_on_time",
    "handled",
    "handled_on_time",
    "handling_s",
    "checked",
    "reworked",
    "dispatched",
    "returned",
    "moves",
    "late_moves",
    "escalated",
    "reopened",
    "supervised",
)
COUNT_TYPES = ", ".join(f"{c} {'double precision' if c == 'handling_s' else 'bigint'}" for c in COUNTS)
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
RATING_TYPES = ", ".join(f"{r} bigint" for r in RATINGS)
ARGUMENTS = "bigint, timestamptz, timestamptz, text, text"
# the counts of the evaluation (formulas in command/evaluation.py), over the transitions ``t``
COUNTED = """
                count(*) FILTER (WHERE t.action = 'file'),
                count(*) FILTER (WHERE t.action = 'close'),
                count(*) FILTER (WHERE t.action = 'close' AND t.at <= t.deadline),
                count(*) FILTER (WHERE t.action = 'feedback'),
                count(*) FILTER (WHERE t.action = 'feedback' AND t.at <= t.deadline),
                coalesce(sum(extract(epoch FROM t.at - t.since)) FILTER (WHERE t.action = 'feedback'), 0)::float8,
                count(*) FILTER (WHERE t.action IN ('close', 'rework')),
                count(*) FILTER (WHERE t.action = 'rework'),
                count(*) FILTER (WHERE t.action = 'dispatch'),
                count(*) FILTER (WHERE t.action = 'return'),
                count(*) FILTER (WHERE t.due IS NOT NULL AND t.action <> 'escalate'),
                count(*) FILTER (WHERE t.at > t.due AND t.action <> 'escalate'),
                count(*) FILTER (WHERE t.action = 'escalate'),
                count(*) FILTER (WHERE t.action = 'reopen'),
                count(*) FILTER (WHERE t.action = 'supervise')"""
GRIDS = """
            WITH m AS (
                SELECT g.id AS grid_id, coalesce((g.ancestors || g.id)[$5 + 1], $1) AS child
                FROM unit g WHERE g.tier = 'grid' AND (g.ancestors || g.id) @> ARRAY[$1]
            )"""
RATED = """
               count(*) FILTER (WHERE r.satisfaction = 'satisfied'),
               count(*) FILTER (WHERE r.satisfaction = 'basically_satisfied'),
               count(*) FILTER (WHERE r.satisfaction = 'unsatisfied')"""
AREA_KEY = """coalesce(e.units[(SELECT cardinality(u.ancestors) + 2 FROM unit u
                                                            WHERE u.id = unit_id)], unit_id)::text"""


def upgrade() -> None:
    op.execute(f"""
    -- one pass over a period's transitions of a unit's subtree, grouped by bucket (the local day or
    -- Monday of ``zone``; no step: one bucket, NULL) and by the unit's child units (area), the handling
    -- department, or the acting role. Sorting and nested loops are off: the planner underestimates the
    -- grids of a subtree (array containment; one row for the city's 9,640 when the unit table was never
    -- analysed) and would sort millions of joined rows to disk, or rescan the window's transitions once
    -- per grid (105 s for one day of the city instead of 60 ms); hashing the grids is the plan.
    CREATE FUNCTION cityops_evaluation_series(unit_id bigint, since timestamptz, until timestamptz, by text,
                                              only_department text, step text, zone text)
    RETURNS TABLE (bucket date, key text, {COUNT_TYPES})
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    SET enable_sort = off SET enable_nestloop = off AS $$
    DECLARE
        depth int := (SELECT cardinality(u.ancestors) + 1 FROM unit u WHERE u.id = unit_id);
        grouping text := CASE by
            WHEN 'area' THEN 'm.child'
            WHEN 'department' THEN 'coalesce(t.department, '''')'
            ELSE 'coalesce(t.role, split_part(t.actor, '':'', 1))' END;
        -- a transition's bucket: the last start at or before it (a binary search of the window's local
        -- midnights, computed once; converting each row to local time instead cost 75 ms in 63,000 rows).
        -- No step: a constant, so an evaluation of one span computes nothing per row for its bucket.
        bucketing text := CASE WHEN step IS NULL THEN 'NULL::date' ELSE '($6::date[])[width_bucket(t.at, $7)]' END;
        days date[];
        starts timestamptz[];
    BEGIN
        IF by NOT IN ('area', 'department', 'role') THEN
            RAISE EXCEPTION 'evaluation by area, department or role, not %', by;
        END IF;
        IF step IS NOT NULL AND (step NOT IN ('day', 'week') OR zone IS NULL) THEN
            RAISE EXCEPTION 'evaluation by day or week in a time zone, not % in %', step, zone;
        END IF;
        IF step IS NOT NULL THEN  -- each local day (or Monday) from the one holding ``since``, and its start
            SELECT array_agg(d::date ORDER BY d), array_agg(d AT TIME ZONE zone ORDER BY d) INTO days, starts
            FROM generate_series(date_trunc(step, since AT TIME ZONE zone), until AT TIME ZONE zone,
                                 ('1 ' || step)::interval) AS d;
        END IF;
        RETURN QUERY EXECUTE format($q${GRIDS}
            SELECT %s, %s::text,{COUNTED}
            FROM case_transition t JOIN m ON m.grid_id = t.grid_id
            WHERE t.at >= $2 AND t.at < $3 AND ($4::text IS NULL OR t.department = $4)
            GROUP BY 1, 2
        $q$, bucketing, grouping) USING unit_id, since, until, only_department, depth, days, starts;
    END $$;

    -- satisfaction of reports rated in the period, bucketed and grouped like the evaluation (by role: none)
    CREATE FUNCTION cityops_satisfaction_series(unit_id bigint, since timestamptz, until timestamptz, by text,
                                                only_department text, step text, zone text)
    RETURNS TABLE (bucket date, key text, {RATING_TYPES})
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT CASE WHEN step IS NOT NULL THEN date_trunc(step, r.rated_at AT TIME ZONE zone)::date END,
               CASE by WHEN 'area' THEN {AREA_KEY}
                       ELSE coalesce(e.handling_department, '') END,{RATED}
        FROM report r JOIN event e ON e.id = r.event_id
        WHERE by IN ('area', 'department') AND r.rated_at >= since AND r.rated_at < until
          AND e.units @> ARRAY[unit_id] AND (only_department IS NULL OR e.handling_department = only_department)
          AND (step IS NULL OR step IN ('day', 'week'))
        GROUP BY 1, 2
    $$;

    -- the evaluation of one span: the series' single bucket (same signatures and answers as before)
    CREATE OR REPLACE FUNCTION cityops_evaluation(unit_id bigint, since timestamptz, until timestamptz, by text,
                                                  only_department text)
    RETURNS TABLE (key text, {COUNT_TYPES})
    LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
        SELECT s.key, {", ".join(f"s.{c}" for c in COUNTS)}
        FROM cityops_evaluation_series(unit_id, since, until, by, only_department, NULL, NULL) s
    $$;
    CREATE OR REPLACE FUNCTION cityops_satisfaction(unit_id bigint, since timestamptz, until timestamptz, by text,
                                                    only_department text)
    RETURNS TABLE (key text, {RATING_TYPES})
    LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
        SELECT s.key, {", ".join(f"s.{r}" for r in RATINGS)}
        FROM cityops_satisfaction_series(unit_id, since, until, by, only_department, NULL, NULL) s
    $$;

    GRANT EXECUTE ON FUNCTION cityops_evaluation_series({ARGUMENTS}, text, text),
                              cityops_satisfaction_series({ARGUMENTS}, text, text) TO cityops_api;
    """)


def downgrade() -> None:
    """Migration 0015's one-span functions, with their own pass again."""
    op.execute(f"""
    CREATE OR REPLACE FUNCTION cityops_evaluation(unit_id bigint, since timestamptz, until timestamptz, by text,
                                                  only_department text)
    RETURNS TABLE (key text, {COUNT_TYPES})
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET enable_sort = off AS $$
    DECLARE
        depth int := (SELECT cardinality(u.ancestors) + 1 FROM unit u WHERE u.id = unit_id);
        grouping text := CASE by
            WHEN 'area' THEN 'm.child'
            WHEN 'department' THEN 'coalesce(t.department, '''')'
            ELSE 'coalesce(t.role, split_part(t.actor, '':'', 1))' END;
    BEGIN
        IF by NOT IN ('area', 'department', 'role') THEN
            RAISE EXCEPTION 'evaluation by area, department or role, not %', by;
        END IF;
        RETURN QUERY EXECUTE format($q${GRIDS}
            SELECT %s::text,{COUNTED}
            FROM case_transition t JOIN m ON m.grid_id = t.grid_id
            WHERE t.at >= $2 AND t.at < $3 AND ($4::text IS NULL OR t.department = $4)
            GROUP BY %s
        $q$, grouping, grouping) USING unit_id, since, until, only_department, depth;
    END $$;
    CREATE OR REPLACE FUNCTION cityops_satisfaction(unit_id bigint, since timestamptz, until timestamptz, by text,
                                                    only_department text)
    RETURNS TABLE (key text, {RATING_TYPES})
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        SELECT CASE by WHEN 'area' THEN {AREA_KEY}
                       ELSE coalesce(e.handling_department, '') END,{RATED}
        FROM report r JOIN event e ON e.id = r.event_id
        WHERE by IN ('area', 'department') AND r.rated_at >= since AND r.rated_at < until
          AND e.units @> ARRAY[unit_id] AND (only_department IS NULL OR e.handling_department = only_department)
        GROUP BY 1
    $$;
    DROP FUNCTION cityops_satisfaction_series({ARGUMENTS}, text, text);
    DROP FUNCTION cityops_evaluation_series({ARGUMENTS}, text, text);
    """)
