"""evaluation rollup: each day's and each month's moves counted per area, department and role

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-04

``cityops_evaluation`` over a year read every transition of the year (4.3–7.9 s for 1,000,000 cases).
``evaluation_rollup`` holds what it counts per Beijing day and per month, per area (a grid's chain down to
its third unit: a street), department and role. A statement trigger on ``case_transition`` appends each
statement's counts in the same transaction (appended rows, never updated: concurrent writers do not
wait on one another), the worker folds a key's rows into one every few seconds, and a trigger on
``unit`` counts an area again when grids change hands. An evaluation reads the span's whole months
and days from it and only its ragged ends from the moves. Filled here from the moves already stored.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "filed",
    "closed",
    "closed_on_time",
    "handled",
    "handled_on_time",
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
TABLE = f"""
CREATE TABLE evaluation_rollup (
    month boolean NOT NULL,
    bucket date NOT NULL,
    area_id bigint NOT NULL,
    area bigint[] NOT NULL,
    department text,
    role text NOT NULL,
    {", ".join(f"{name} bigint NOT NULL" for name in COUNTS)},
    handling_s numeric NOT NULL,
    folded boolean NOT NULL DEFAULT false
);
CREATE INDEX ix_evaluation_rollup_bucket ON evaluation_rollup (month, bucket);
CREATE INDEX ix_evaluation_rollup_area ON evaluation_rollup (area_id);
CREATE INDEX ix_case_transition_grid ON case_transition (grid_id, at);
CREATE INDEX ix_evaluation_rollup_fresh ON evaluation_rollup (month, bucket, area_id) WHERE NOT folded;
COMMENT ON TABLE evaluation_rollup IS 'What cityops_evaluation counts, per Beijing day (month false) or month (true), area, department and role; a key may hold several rows until cityops_evaluation_rollup_fold merges them';
"""
FILL = """
SELECT cityops_evaluation_rollup_add(array_agg(t.id)) FROM case_transition t GROUP BY t.id / 200000;
SELECT cityops_evaluation_rollup_fold();
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(TABLE, execution_options={"no_parameters": True})
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_evaluation(unit_id bigint, since timestamp with time zone, until timestamp with time zone, by text, only_department text)\n"
        " RETURNS TABLE(key text, filed bigint, closed bigint, closed_on_time bigint, handled bigint, handled_on_time bigint, handling_s double precision, checked bigint, reworked bigint, dispatched bigint, returned bigint, moves bigint, late_moves bigint, escalated bigint, reopened bigint, supervised bigint)\n"
        " LANGUAGE plpgsql\n"
        " STABLE SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        " SET enable_nestloop TO 'on'\n"
        "AS $function$\n"
        "    -- A unit's subtree over [since, until) by area (its children), department or role. The span's whole\n"
        "    -- months and whole days are read from evaluation_rollup (a year of a city: ~10^5 rows, not ~10^7 moves),\n"
        "    -- its ragged ends from the moves (evaluation_move). A unit below the second tier (a street, a community)\n"
        "    -- reads the moves alone: its children are finer than the rollup's areas (cityops_rollup_area), and its\n"
        "    -- moves are found through its grids (ix_case_transition_grid). A city's or district's moves are not:\n"
        "    -- scanning a day by time beats probing each of ~10^4 grids.\n"
        "    DECLARE\n"
        "        depth int := (SELECT cardinality(u.ancestors) + 1 FROM unit u WHERE u.id = unit_id);\n"
        "        zone text := cityops_rollup_zone();\n"
        "        grouping text := CASE by\n"
        "            WHEN 'area' THEN 'coalesce(c.chain[$5 + 1], $1)'\n"
        "            WHEN 'department' THEN 'coalesce(c.department, '''')'\n"
        "            ELSE 'c.role' END;\n"
        "        first_day date := (since AT TIME ZONE zone)::date;  -- the first whole day of the span ...\n"
        "        end_day date := (until AT TIME ZONE zone)::date;    -- ... and the day after its last\n"
        "        first_month date;\n"
        "        end_month date;\n"
        "    BEGIN\n"
        "        IF by NOT IN ('area', 'department', 'role') THEN\n"
        "            RAISE EXCEPTION 'evaluation by area, department or role, not %', by;\n"
        "        END IF;\n"
        "        IF first_day::timestamp AT TIME ZONE zone < since THEN\n"
        "            first_day := first_day + 1;\n"
        "        END IF;\n"
        "        IF depth > 2 OR end_day <= first_day THEN  -- no whole day to read from the rollup\n"
        "            first_day := NULL;\n"
        "            end_day := NULL;\n"
        "        END IF;\n"
        "        -- A street's moves are best found grid by grid; a city's or district's ragged ends by time, where a\n"
        "        -- probe per grid (~10^4 of them, each re-reading the time index) took 5.9 s for a million cases. Set\n"
        "        -- here, undone on return (the SET clause above scopes it to this function).\n"
        "        PERFORM set_config('enable_nestloop', (depth > 2)::text, true);\n"
        "        first_month := (date_trunc('month', first_day - 1) + interval '1 month')::date;\n"
        "        end_month := greatest(date_trunc('month', end_day)::date, first_month);\n"
        "        IF end_month = first_month THEN  -- no whole month: whole days only\n"
        "            first_month := end_day;\n"
        "            end_month := end_day;\n"
        "        END IF;\n"
        "        RETURN QUERY EXECUTE format($q$\n"
        "            WITH counted AS (\n"
        "                SELECT r.area AS chain, r.department, r.role, r.filed, r.closed, r.closed_on_time, r.handled,\n"
        "                    r.handled_on_time, r.handling_s, r.checked, r.reworked, r.dispatched, r.returned, r.moves,\n"
        "                    r.late_moves, r.escalated, r.reopened, r.supervised\n"
        "                FROM evaluation_rollup r\n"
        "                WHERE (r.month AND r.bucket >= $8 AND r.bucket < $9)\n"
        "                   OR (NOT r.month AND ((r.bucket >= $6 AND r.bucket < $8) OR (r.bucket >= $9 AND r.bucket < $7)))\n"
        "                UNION ALL\n"
        "                SELECT e.chain, e.department, e.role, e.filed, e.closed, e.closed_on_time, e.handled,\n"
        "                    e.handled_on_time, e.handling_s, e.checked, e.reworked, e.dispatched, e.returned, e.moves,\n"
        "                    e.late_moves, e.escalated, e.reopened, e.supervised\n"
        "                FROM evaluation_move e\n"
        "                WHERE %s((e.at >= $2 AND e.at < coalesce($6::timestamp AT TIME ZONE $10, $3))\n"
        "                       OR (e.at >= coalesce($7::timestamp AT TIME ZONE $10, $3) AND e.at < $3))\n"
        "            ), by_place AS MATERIALIZED (  -- summed per place first (an area's chain, a grid's): its scope and child are computed once\n"
        "                SELECT c.chain, c.department, c.role, sum(c.filed) AS filed, sum(c.closed) AS closed,\n"
        "                    sum(c.closed_on_time) AS closed_on_time, sum(c.handled) AS handled,\n"
        "                    sum(c.handled_on_time) AS handled_on_time, sum(c.handling_s) AS handling_s,\n"
        "                    sum(c.checked) AS checked, sum(c.reworked) AS reworked, sum(c.dispatched) AS dispatched,\n"
        "                    sum(c.returned) AS returned, sum(c.moves) AS moves, sum(c.late_moves) AS late_moves,\n"
        "                    sum(c.escalated) AS escalated, sum(c.reopened) AS reopened, sum(c.supervised) AS supervised\n"
        "                FROM counted c\n"
        "                WHERE $4::text IS NULL OR c.department = $4\n"
        "                GROUP BY 1, 2, 3\n"
        "            )\n"
        "            SELECT %s::text, sum(c.filed)::bigint, sum(c.closed)::bigint, sum(c.closed_on_time)::bigint,\n"
        "                sum(c.handled)::bigint, sum(c.handled_on_time)::bigint, coalesce(sum(c.handling_s), 0)::float8,\n"
        "                sum(c.checked)::bigint, sum(c.reworked)::bigint, sum(c.dispatched)::bigint, sum(c.returned)::bigint,\n"
        "                sum(c.moves)::bigint, sum(c.late_moves)::bigint, sum(c.escalated)::bigint, sum(c.reopened)::bigint,\n"
        "                sum(c.supervised)::bigint\n"
        "            FROM by_place c\n"
        "            WHERE c.chain @> ARRAY[$1]\n"
        "            GROUP BY 1\n"
        "        $q$, CASE WHEN depth > 2 THEN 'e.chain @> ARRAY[$1] AND ' ELSE '' END, grouping) USING unit_id, since, until, only_department, depth, first_day, end_day, first_month,\n"
        "            end_month, zone;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) TO PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_evaluation_rollup_add(added bigint[])\n"
        " RETURNS void\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- Counts these stored moves into evaluation_rollup, once by their day and once by their month (a\n"
        "    -- rebuild, the migration's fill; a new statement's moves are counted by cityops_evaluation_rollup_follow\n"
        "    -- the same way, from its own rows). The rows are appended, never updated: two writers never wait for\n"
        "    -- one row, and cityops_evaluation_rollup_fold merges a key's rows later (a sum is a sum however many\n"
        "    -- rows it is spread over).\n"
        "    BEGIN\n"
        "        INSERT INTO evaluation_rollup (month, bucket, area_id, area, department, role, filed, closed, closed_on_time,\n"
        "            handled, handled_on_time, handling_s, checked, reworked, dispatched, returned, moves, late_moves,\n"
        "            escalated, reopened, supervised)\n"
        "        SELECT s.month, CASE WHEN s.month THEN date_trunc('month', m.day)::date ELSE m.day END,\n"
        "            m.area[cardinality(m.area)], m.area, m.department, m.role, sum(m.filed), sum(m.closed), sum(m.closed_on_time), sum(m.handled),\n"
        "            sum(m.handled_on_time), coalesce(sum(m.handling_s), 0), sum(m.checked), sum(m.reworked),\n"
        "            sum(m.dispatched), sum(m.returned), sum(m.moves), sum(m.late_moves), sum(m.escalated), sum(m.reopened),\n"
        "            sum(m.supervised)\n"
        "        FROM (SELECT (e.at AT TIME ZONE cityops_rollup_zone())::date AS day, e.* FROM evaluation_move e\n"
        "              WHERE e.id = ANY(added)) m\n"
        "        CROSS JOIN (VALUES (false), (true)) s(month)\n"
        "        GROUP BY 1, 2, 3, 4, 5, 6;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_evaluation_rollup_add(bigint[]) FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_evaluation_rollup_fold()\n"
        " RETURNS bigint\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- Merges the rows appended since the last fold into one row per key (the worker calls it every few\n"
        "    -- seconds); returns how many rows fewer the rollup holds. Rows still being written by open transactions\n"
        "    -- are invisible here and wait for the next fold; a concurrent fold skips (one at a time).\n"
        "    DECLARE\n"
        "        merged bigint;\n"
        "    BEGIN\n"
        "        IF NOT pg_try_advisory_xact_lock(hashtext('cityops_evaluation_rollup_fold')) THEN\n"
        "            RETURN 0;\n"
        "        END IF;\n"
        "        WITH fresh AS (\n"
        "            SELECT DISTINCT r.month, r.bucket, r.area_id FROM evaluation_rollup r WHERE NOT r.folded\n"
        "        ), gone AS (\n"
        "            DELETE FROM evaluation_rollup r USING fresh f\n"
        "            WHERE r.month = f.month AND r.bucket = f.bucket AND r.area_id = f.area_id\n"
        "            RETURNING r.*\n"
        "        ), kept AS (\n"
        "            INSERT INTO evaluation_rollup (month, bucket, area_id, area, department, role, folded, filed, closed,\n"
        "                closed_on_time, handled, handled_on_time, handling_s, checked, reworked, dispatched, returned,\n"
        "                moves, late_moves, escalated, reopened, supervised)\n"
        "            SELECT g.month, g.bucket, g.area_id, g.area, g.department, g.role, true, sum(g.filed), sum(g.closed),\n"
        "                sum(g.closed_on_time), sum(g.handled), sum(g.handled_on_time), sum(g.handling_s), sum(g.checked),\n"
        "                sum(g.reworked), sum(g.dispatched), sum(g.returned), sum(g.moves), sum(g.late_moves),\n"
        "                sum(g.escalated), sum(g.reopened), sum(g.supervised)\n"
        "            FROM gone g GROUP BY 1, 2, 3, 4, 5, 6\n"
        "            RETURNING 1\n"
        "        )\n"
        "        SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept) INTO merged;\n"
        "        RETURN merged;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_evaluation_rollup_fold() FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_evaluation_rollup_fold() TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_evaluation_rollup_follow()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- Every statement's new moves counted into the rollup in the same transaction: an evaluation never\n"
        "    -- sees a move the rollup has not (transitions are append-only, so nothing is ever taken away). The\n"
        "    -- moves are read from the statement's own rows, counted as evaluation_move counts them: going through\n"
        "    -- cityops_evaluation_rollup_add (ids, then the view) cost 1.1 ms a move, this 0.2 ms.\n"
        "    BEGIN\n"
        "        INSERT INTO evaluation_rollup (month, bucket, area_id, area, department, role, filed, closed, closed_on_time,\n"
        "            handled, handled_on_time, handling_s, checked, reworked, dispatched, returned, moves, late_moves,\n"
        "            escalated, reopened, supervised)\n"
        "        SELECT s.month, CASE WHEN s.month THEN date_trunc('month', m.day)::date ELSE m.day END,\n"
        "            m.area[cardinality(m.area)], m.area, m.department, m.role, sum(m.filed), sum(m.closed),\n"
        "            sum(m.closed_on_time), sum(m.handled), sum(m.handled_on_time), coalesce(sum(m.handling_s), 0),\n"
        "            sum(m.checked), sum(m.reworked), sum(m.dispatched), sum(m.returned), sum(m.moves), sum(m.late_moves),\n"
        "            sum(m.escalated), sum(m.reopened), sum(m.supervised)\n"
        "        FROM (SELECT (t.at AT TIME ZONE cityops_rollup_zone())::date AS day, cityops_rollup_area(g.ancestors, g.id) AS area,\n"
        "                     t.department, coalesce(t.role, split_part(t.actor, ':', 1)) AS role, c.*\n"
        "              FROM new_rows t JOIN unit g ON g.id = t.grid_id AND g.tier = 'grid'\n"
        "              CROSS JOIN LATERAL cityops_move_counts(t) c) m\n"
        "        CROSS JOIN (VALUES (false), (true)) s(month)\n"
        "        GROUP BY 1, 2, 3, 4, 5, 6;\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_evaluation_rollup_follow() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_evaluation_rollup_rebuild(areas bigint[])\n"
        " RETURNS void\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- The rollup of these areas (the last unit of cityops_rollup_area) counted again from the moves: after grids changed hands (a boundary\n"
        "    -- import re-parented them, or one was removed), their history belongs to other areas.\n"
        "    BEGIN\n"
        "        DELETE FROM evaluation_rollup r WHERE r.area_id = ANY(areas);\n"
        "        PERFORM cityops_evaluation_rollup_add(ARRAY(SELECT e.id FROM evaluation_move e WHERE e.area[cardinality(e.area)] = ANY(areas)));\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_evaluation_rollup_rebuild(bigint[]) FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_evaluation_rollup_regroup()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- A grid whose rollup area changed (its chain did, or it stopped being a grid, or it was removed):\n"
        "    -- the areas it left and joined are counted again. Unchanged grids cost one comparison each.\n"
        "    DECLARE\n"
        "        areas bigint[];\n"
        "    BEGIN\n"
        "        IF TG_OP = 'DELETE' THEN\n"
        "            areas := ARRAY(SELECT DISTINCT a[cardinality(a)] FROM old_rows o, cityops_rollup_area(o.ancestors, o.id) a\n"
        "                           WHERE o.tier = 'grid');\n"
        "        ELSE  -- (grid, area) pairs on one side only, by set difference (hashed): transition tables\n"
        "              -- have no statistics or index, and a join of two may be planned as a nested loop\n"
        "            areas := ARRAY(\n"
        "                SELECT DISTINCT d.a[cardinality(d.a)] FROM (\n"
        "                    (SELECT o.id, cityops_rollup_area(o.ancestors, o.id) FROM old_rows o WHERE o.tier = 'grid'\n"
        "                     EXCEPT SELECT n.id, cityops_rollup_area(n.ancestors, n.id) FROM new_rows n WHERE n.tier = 'grid')\n"
        "                    UNION ALL\n"
        "                    (SELECT n.id, cityops_rollup_area(n.ancestors, n.id) FROM new_rows n WHERE n.tier = 'grid'\n"
        "                     EXCEPT SELECT o.id, cityops_rollup_area(o.ancestors, o.id) FROM old_rows o WHERE o.tier = 'grid')\n"
        "                ) d(id, a));\n"
        "        END IF;\n"
        "        IF cardinality(areas) > 0 THEN\n"
        "            PERFORM cityops_evaluation_rollup_rebuild(areas);\n"
        "        END IF;\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_evaluation_rollup_regroup() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_move_counts(t case_transition)\n"
        " RETURNS TABLE(filed integer, closed integer, closed_on_time integer, handled integer, handled_on_time integer, handling_s numeric, checked integer, reworked integer, dispatched integer, returned integer, moves integer, late_moves integer, escalated integer, reopened integer, supervised integer)\n"
        " LANGUAGE sql\n"
        " IMMUTABLE PARALLEL SAFE\n"
        "AS $function$\n"
        "        -- What one move adds to each count of the evaluation (GB/T 30428): the one place these are defined;\n"
        "        -- the rollups and the evaluation's own reading of the transitions both sum them.\n"
        "        SELECT (t.action = 'file')::int,\n"
        "            (t.action = 'close')::int,\n"
        "            (t.action = 'close' AND t.at <= t.deadline IS TRUE)::int,\n"
        "            (t.action = 'feedback')::int,\n"
        "            (t.action = 'feedback' AND t.at <= t.deadline IS TRUE)::int,\n"
        "            CASE WHEN t.action = 'feedback' THEN extract(epoch FROM t.at - t.since) END,\n"
        "            (t.action IN ('close', 'rework'))::int,\n"
        "            (t.action = 'rework')::int,\n"
        "            (t.action = 'dispatch')::int,\n"
        "            (t.action = 'return')::int,\n"
        "            (t.due IS NOT NULL AND t.action <> 'escalate')::int,\n"
        "            (t.at > t.due IS TRUE AND t.action <> 'escalate')::int,\n"
        "            (t.action = 'escalate')::int,\n"
        "            (t.action = 'reopen')::int,\n"
        "            (t.action = 'supervise')::int\n"
        "    $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_rollup_area(ancestors bigint[], id bigint)\n"
        " RETURNS bigint[]\n"
        " LANGUAGE sql\n"
        " IMMUTABLE PARALLEL SAFE\n"
        "AS $function$\n"
        "        -- Where a grid's moves are rolled up: its chain down to the third unit (city, district, street in\n"
        "        -- Nanjing; city, Jiangbei New Area, Pukou for Pukou's streets there), or to the grid in a shallower\n"
        "        -- city. Coarse enough to compress a year of a city ~100-fold; and as it is the grid's own chain, an\n"
        "        -- evaluation of the city or of a district finds each move's scope and child in it as in the grid's.\n"
        "        SELECT (ancestors || id)[1:3]\n"
        "    $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_rollup_zone()\n"
        " RETURNS text\n"
        " LANGUAGE sql\n"
        " IMMUTABLE PARALLEL SAFE\n"
        "AS $function$\n"
        "        -- Where the rollups' days and months begin: Beijing time, the days the operations centre reports by.\n"
        "        -- Any zone would keep them exact (a span's whole days come from the rollup, the rest from the moves).\n"
        "        SELECT 'Asia/Shanghai'::text\n"
        "    $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE VIEW public.evaluation_move AS\n"
        " SELECT t.id,\n"
        "    t.at,\n"
        "    t.grid_id,\n"
        "    (g.ancestors || g.id) AS chain,\n"
        "    cityops_rollup_area(g.ancestors, g.id) AS area,\n"
        "    t.department,\n"
        "    COALESCE(t.role, split_part(t.actor, ':'::text, 1)) AS role,\n"
        "    c.filed,\n"
        "    c.closed,\n"
        "    c.closed_on_time,\n"
        "    c.handled,\n"
        "    c.handled_on_time,\n"
        "    c.handling_s,\n"
        "    c.checked,\n"
        "    c.reworked,\n"
        "    c.dispatched,\n"
        "    c.returned,\n"
        "    c.moves,\n"
        "    c.late_moves,\n"
        "    c.escalated,\n"
        "    c.reopened,\n"
        "    c.supervised\n"
        "   FROM ((case_transition t\n"
        "     JOIN unit g ON (((g.id = t.grid_id) AND (g.tier = 'grid'::tier))))\n"
        "     CROSS JOIN LATERAL cityops_move_counts(t.*) c(filed, closed, closed_on_time, handled, handled_on_time, handling_s, checked, reworked, dispatched, returned, moves, late_moves, escalated, reopened, supervised));\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER case_transition_evaluation_rollup AFTER INSERT ON public.case_transition REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_evaluation_rollup_follow();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER unit_evaluation_rollup_delete AFTER DELETE ON public.unit REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_evaluation_rollup_regroup();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER unit_evaluation_rollup_update AFTER UPDATE ON public.unit REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_evaluation_rollup_regroup();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(FILL, execution_options={"no_parameters": True})


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER unit_evaluation_rollup_update ON public.unit;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER unit_evaluation_rollup_delete ON public.unit;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER case_transition_evaluation_rollup ON public.case_transition;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP VIEW public.evaluation_move;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_rollup_zone;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_rollup_area;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_move_counts;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_evaluation_rollup_regroup;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_evaluation_rollup_rebuild;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_evaluation_rollup_follow;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_evaluation_rollup_fold;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_evaluation_rollup_add;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_evaluation(unit_id bigint, since timestamp with time zone, until timestamp with time zone, by text, only_department text)\n"
        " RETURNS TABLE(key text, filed bigint, closed bigint, closed_on_time bigint, handled bigint, handled_on_time bigint, handling_s double precision, checked bigint, reworked bigint, dispatched bigint, returned bigint, moves bigint, late_moves bigint, escalated bigint, reopened bigint, supervised bigint)\n"
        " LANGUAGE sql\n"
        " STABLE\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "        SELECT s.key, s.filed, s.closed, s.closed_on_time, s.handled, s.handled_on_time, s.handling_s, s.checked, s.reworked, s.dispatched, s.returned, s.moves, s.late_moves, s.escalated, s.reopened, s.supervised\n"
        "        FROM cityops_evaluation_series(unit_id, since, until, by, only_department, NULL, NULL) s\n"
        "    $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) TO PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TABLE evaluation_rollup; DROP INDEX ix_case_transition_grid", execution_options={"no_parameters": True}
    )
