"""open_case_cell: the open cases per H3 cell (resolution 7), for the zoomed-out map

Revision ID: 0058
Revises: 0057
Create Date: 2026-12-05

Issue 23 item 4 (zoomed-out tiles). A case tile below zoom 14 gathers the caller's open cases per H3 cell
(resolution zoom − 4); at zoom 10 it read ~15,000 rows of ``open_case`` (23 ms alone, p99 42–59 ms at four
clients). ``open_case_cell`` holds, per resolution-7 cell, area (the case's chain down to its street, as the
other rollups), severity and overdue side, the open cases' count and the sums of their coordinates (so a cell's
mean point is exact too), and an anchor point inside the cell for the tile's box to find it by.

"Overdue" moves with the clock, not with a write: a key's side is "due by the tick" (``open_case_tick``), and
``cityops_open_case_tick`` (the worker, every few seconds) moves the cases that fell due since to the overdue
side. A reader adds the few cases due between the tick and its own now from ``open_case`` (index on deadline),
so a tile counts overdue as of its own statement, as before. Writers hold the tick's lock shared from reading it
to their commit, so no tick passes a case it cannot see yet.

Triggers on ``open_case`` append +1/−1 rows (never update one: writers never wait on each other); the worker
folds a key's rows. A TRUNCATE of ``open_case`` (and of ``case_file`` for ``case_cell_day``) empties the rollup.
Gathered cells now sit at the mean of all their cases, in the one tile that holds it: a cell is no longer split
in two at a tile's edge. Filled here from ``open_case``.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0058"
down_revision: str | None = "0057"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = """
CREATE TABLE open_case_cell (
    cell bigint NOT NULL,
    area bigint[] NOT NULL,
    severity severity NOT NULL,
    overdue boolean NOT NULL,
    cases integer NOT NULL,
    lon_sum double precision NOT NULL,
    lat_sum double precision NOT NULL,
    anchor geometry(Point, 4326) NOT NULL,
    folded boolean NOT NULL DEFAULT false
);
CREATE INDEX ix_open_case_cell_anchor ON open_case_cell USING gist (anchor);
CREATE INDEX ix_open_case_cell_cell ON open_case_cell (cell);
CREATE INDEX ix_open_case_cell_fresh ON open_case_cell (cell) WHERE NOT folded;
COMMENT ON TABLE open_case_cell IS 'Open cases per H3 resolution-7 cell, area (units[1:3]), severity and overdue side (due by open_case_tick), with their coordinates'' sums and an anchor inside the cell; kept by triggers on open_case, a key''s rows merged by cityops_open_case_cell_fold';
CREATE TABLE open_case_tick (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    at timestamptz NOT NULL
);
COMMENT ON TABLE open_case_tick IS 'When open_case_cell''s overdue side was last brought up to the clock (cityops_open_case_tick)';
CREATE INDEX ix_open_case_deadline ON open_case (deadline);
"""
FILL = """
INSERT INTO open_case_tick (at) VALUES (now());
INSERT INTO open_case_cell (cell, area, severity, overdue, cases, lon_sum, lat_sum, anchor, folded)
SELECT cityops_h3_parent(cell, 7), units[1:3], severity, deadline <= now(), count(*), sum(ST_X(geom)), sum(ST_Y(geom)),
    ST_SetSRID(ST_MakePoint(avg(ST_X(geom)), avg(ST_Y(geom))), 4326), true
FROM open_case GROUP BY 1, 2, 3, 4;
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(TABLE, execution_options={"no_parameters": True})
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_case_cells;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_case_cells(box geometry, resolution integer, rollup boolean DEFAULT true)\n"
        " RETURNS TABLE(lon double precision, lat double precision, count bigint, severity text, overdue bigint)\n"
        " LANGUAGE plpgsql\n"
        " STABLE SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- The caller's open cases gathered per H3 cell: one row a cell at the mean of its cases, in the box that\n"
        "    -- holds the mean (west and south edges in, east and north out), so a cell is never split at a tile's edge.\n"
        "    -- Cells of resolution 7 or coarser, for a caller scoped to one of a chain's first three units and to no\n"
        "    -- department, are read from open_case_cell (a z10 tile's 15,000 open cases are ~1,500 keys there), the\n"
        "    -- cases due between its tick and now from open_case; anything else counts open_case (rollup => false too).\n"
        "    DECLARE\n"
        "        unit_id bigint := cityops_scope_unit();\n"
        "        department text := cityops_scope_department();\n"
        "        reach float8 := 4 * 1281256 * 0.378 ^ resolution;  -- metres: a cell's diameter, amply (H3's mean edge)\n"
        "        near geometry := ST_Expand(\n"
        "            box, reach / (111320 * cos(radians(greatest(abs(ST_YMin(box)), abs(ST_YMax(box)))))), reach / 110574);\n"
        "        rolled boolean := rollup AND resolution <= 7 AND department IS NULL\n"
        "            AND coalesce((SELECT cardinality(u.ancestors) < 3 FROM unit u WHERE u.id = unit_id), false);\n"
        "        tick timestamptz := (SELECT t.at FROM open_case_tick t);\n"
        "    BEGIN\n"
        "        RETURN QUERY\n"
        "        WITH due AS MATERIALIZED (  -- by the deadline's index, whatever the box: a handful of cases\n"
        "            SELECT o.cell, o.deadline, o.geom, o.units FROM open_case o\n"
        "            WHERE rolled AND o.deadline BETWEEN least(tick, now()) AND greatest(tick, now())\n"
        "        ), keys AS (\n"
        "            SELECT cityops_h3_parent(r.cell, resolution) AS cell, r.severity, sum(r.cases) AS cases,\n"
        "                sum(r.lon_sum) AS lon_sum, sum(r.lat_sum) AS lat_sum, sum(r.cases) FILTER (WHERE r.overdue) AS overdue\n"
        "            FROM open_case_cell r\n"
        "            WHERE rolled AND r.anchor && near AND r.area @> ARRAY[unit_id]\n"
        "            GROUP BY 1, 2\n"
        "            UNION ALL  -- the cases whose overdue side the tick has not caught up with: due between it and now\n"
        "            SELECT cityops_h3_parent(d.cell, resolution), NULL, 0, 0, 0,\n"
        "                sum(CASE WHEN d.deadline < now() THEN 1 ELSE -1 END)\n"
        "            FROM due d\n"
        "            WHERE (d.deadline <= tick) <> (d.deadline < now()) AND d.geom && near AND d.units @> ARRAY[unit_id]\n"
        "            GROUP BY 1\n"
        "            UNION ALL\n"
        "            SELECT cityops_h3_parent(o.cell, resolution), o.severity, count(*), sum(ST_X(o.geom)), sum(ST_Y(o.geom)),\n"
        "                count(*) FILTER (WHERE o.deadline < now())\n"
        "            FROM open_case o\n"
        "            WHERE NOT rolled AND o.geom && near AND o.units @> ARRAY[unit_id]\n"
        "              AND (department IS NULL OR o.departments @> ARRAY[department])\n"
        "            GROUP BY 1, 2\n"
        "        ), cells AS (\n"
        "            SELECT sum(k.lon_sum) / sum(k.cases) AS lon, sum(k.lat_sum) / sum(k.cases) AS lat, sum(k.cases) AS cases,\n"
        "                max(k.severity) FILTER (WHERE k.cases > 0) AS severity, sum(k.overdue) AS overdue\n"
        "            FROM keys k GROUP BY k.cell HAVING sum(k.cases) > 0\n"
        "        )\n"
        "        SELECT c.lon, c.lat, c.cases::bigint, c.severity::text, coalesce(c.overdue, 0)::bigint FROM cells c\n"
        "        WHERE c.lon >= ST_XMin(box) AND c.lon < ST_XMax(box) AND c.lat >= ST_YMin(box) AND c.lat < ST_YMax(box);\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_case_cells(geometry,integer,boolean) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_case_cells(geometry,integer,boolean) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_open_case_cell_count()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- A statement's new (INSERT) or gone (DELETE) open cases counted into open_case_cell, one row per key: +1 or\n"
        "    -- -1 a case, its point added to or taken from the key's sums. Statement level: an import is one INSERT. The\n"
        "    -- rows are appended, never updated: two writers never wait for one row (cityops_open_case_cell_fold merges).\n"
        "    DECLARE\n"
        "        tick timestamptz := cityops_open_case_tick_at();\n"
        "    BEGIN\n"
        "        IF TG_OP = 'INSERT' THEN\n"
        "            INSERT INTO open_case_cell (cell, area, severity, overdue, cases, lon_sum, lat_sum, anchor)\n"
        "            SELECT cityops_h3_parent(n.cell, 7), n.units[1:3], n.severity, n.deadline <= tick, count(*),\n"
        "                sum(ST_X(n.geom)), sum(ST_Y(n.geom)), ST_SetSRID(ST_MakePoint(avg(ST_X(n.geom)), avg(ST_Y(n.geom))), 4326)\n"
        "            FROM new_rows n GROUP BY 1, 2, 3, 4;\n"
        "        ELSE\n"
        "            INSERT INTO open_case_cell (cell, area, severity, overdue, cases, lon_sum, lat_sum, anchor)\n"
        "            SELECT cityops_h3_parent(o.cell, 7), o.units[1:3], o.severity, o.deadline <= tick, -count(*),\n"
        "                -sum(ST_X(o.geom)), -sum(ST_Y(o.geom)), ST_SetSRID(ST_MakePoint(avg(ST_X(o.geom)), avg(ST_Y(o.geom))), 4326)\n"
        "            FROM old_rows o GROUP BY 1, 2, 3, 4;\n"
        "        END IF;\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_open_case_cell_count() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_open_case_cell_fold()\n"
        " RETURNS bigint\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- Merges the rows appended since the last fold into one row per key (its anchor the mean of its cases, inside\n"
        "    -- the cell), dropping keys that came to zero (the worker calls it every few seconds); returns how many rows\n"
        "    -- fewer open_case_cell holds. Rows of open transactions are invisible here and wait for the next fold.\n"
        "    DECLARE\n"
        "        merged bigint;\n"
        "    BEGIN\n"
        "        IF NOT pg_try_advisory_xact_lock(hashtext('cityops_open_case_cell_fold')) THEN\n"
        "            RETURN 0;\n"
        "        END IF;\n"
        "        WITH fresh AS (\n"
        "            SELECT DISTINCT r.cell FROM open_case_cell r WHERE NOT r.folded\n"
        "        ), gone AS (\n"
        "            DELETE FROM open_case_cell r USING fresh f WHERE r.cell = f.cell\n"
        "            RETURNING r.*\n"
        "        ), kept AS (\n"
        "            INSERT INTO open_case_cell (cell, area, severity, overdue, cases, lon_sum, lat_sum, anchor, folded)\n"
        "            SELECT g.cell, g.area, g.severity, g.overdue, sum(g.cases), sum(g.lon_sum), sum(g.lat_sum),\n"
        "                ST_SetSRID(ST_MakePoint(sum(g.lon_sum) / sum(g.cases), sum(g.lat_sum) / sum(g.cases)), 4326), true\n"
        "            FROM gone g GROUP BY 1, 2, 3, 4 HAVING sum(g.cases) <> 0\n"
        "            RETURNING 1\n"
        "        )\n"
        "        SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept) INTO merged;\n"
        "        RETURN merged;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_open_case_cell_fold() FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_open_case_cell_fold() TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_open_case_cell_follow()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- An open case moved, re-scoped, re-graded or given another deadline: -1 under its old key, +1 under its new\n"
        "    -- one, its point taken from the old key's sums and added to the new one's, in the same transaction\n"
        "    DECLARE\n"
        "        tick timestamptz := cityops_open_case_tick_at();\n"
        "    BEGIN\n"
        "        INSERT INTO open_case_cell (cell, area, severity, overdue, cases, lon_sum, lat_sum, anchor)\n"
        "        SELECT cityops_h3_parent(c.cell, 7), c.units[1:3], c.severity, c.deadline <= tick, c.cases,\n"
        "            c.cases * ST_X(c.geom), c.cases * ST_Y(c.geom), c.geom\n"
        "        FROM (VALUES (OLD.cell, OLD.units, OLD.severity, OLD.deadline, OLD.geom, -1),\n"
        "                     (NEW.cell, NEW.units, NEW.severity, NEW.deadline, NEW.geom, 1))\n"
        "            AS c(cell, units, severity, deadline, geom, cases);\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_open_case_cell_follow() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_open_case_tick()\n"
        " RETURNS bigint\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- Moves the open cases that fell due since the last tick to open_case_cell's overdue side (-1 under their key\n"
        "    -- not overdue, +1 overdue) and sets the tick to now; returns how many cases moved. A reader then adds only\n"
        "    -- the cases due between the tick and its own now from open_case. The exclusive lock waits for the writers in\n"
        "    -- flight (each holds it shared to its commit, cityops_open_case_tick_at), so every case this tick cannot see\n"
        "    -- is flagged against the new tick; it gives up after a moment rather than hold writers behind a long one.\n"
        "    DECLARE\n"
        "        was timestamptz;\n"
        "        upto timestamptz;\n"
        "        moved bigint;\n"
        "    BEGIN\n"
        "        PERFORM set_config('lock_timeout', '50ms', true);  -- writers queue behind a waiting tick\n"
        "        BEGIN\n"
        "            PERFORM pg_advisory_xact_lock(hashtext('cityops_open_case_tick'));\n"
        "        EXCEPTION WHEN lock_not_available THEN\n"
        "            RETURN 0;\n"
        "        END;\n"
        "        SELECT t.at INTO was FROM open_case_tick t;\n"
        "        upto := greatest(clock_timestamp(), was);\n"
        "        INSERT INTO open_case_cell (cell, area, severity, overdue, cases, lon_sum, lat_sum, anchor)\n"
        "        SELECT d.cell, d.area, d.severity, s.overdue, s.sign * d.cases, s.sign * d.lon_sum, s.sign * d.lat_sum,\n"
        "            ST_SetSRID(ST_MakePoint(d.lon_sum / d.cases, d.lat_sum / d.cases), 4326)\n"
        "        FROM (\n"
        "            SELECT cityops_h3_parent(o.cell, 7) AS cell, o.units[1:3] AS area, o.severity, count(*) AS cases,\n"
        "                sum(ST_X(o.geom)) AS lon_sum, sum(ST_Y(o.geom)) AS lat_sum\n"
        "            FROM open_case o WHERE o.deadline > was AND o.deadline <= upto GROUP BY 1, 2, 3\n"
        "        ) d, (VALUES (false, -1), (true, 1)) AS s(overdue, sign);\n"
        "        GET DIAGNOSTICS moved = ROW_COUNT;\n"
        "        UPDATE open_case_tick SET at = upto;\n"
        "        RETURN moved / 2;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_open_case_tick() FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_open_case_tick() TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_open_case_tick_at()\n"
        " RETURNS timestamp with time zone\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- The tick open_case_cell's overdue side is kept to (a case due by it counts as overdue), for a writer:\n"
        "    -- its shared lock, held to the writer's commit, keeps cityops_open_case_tick from moving past a case it\n"
        "    -- cannot see yet. Read after the lock, so only in READ COMMITTED: an older snapshot could read a passed tick.\n"
        "    BEGIN\n"
        "        IF current_setting('transaction_isolation') <> 'read committed' THEN\n"
        "            RAISE EXCEPTION 'open cases change in READ COMMITTED transactions only: open_case_cell reads its tick '\n"
        "                'after its lock, which a % snapshot may predate', current_setting('transaction_isolation');\n"
        "        END IF;\n"
        "        PERFORM pg_advisory_xact_lock_shared(hashtext('cityops_open_case_tick'));\n"
        "        RETURN (SELECT t.at FROM open_case_tick t);\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_open_case_tick_at() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_rollup_clear()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- A truncated table's rollup (the trigger's argument) emptied with it: TRUNCATE fires no DELETE trigger\n"
        "    BEGIN\n"
        "        EXECUTE format('TRUNCATE %I', TG_ARGV[0]);\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_rollup_clear() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER case_file_cell_day_truncate AFTER TRUNCATE ON public.case_file FOR EACH STATEMENT EXECUTE FUNCTION cityops_rollup_clear('case_cell_day');\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER open_case_cell_delete AFTER DELETE ON public.open_case REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_open_case_cell_count();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER open_case_cell_insert AFTER INSERT ON public.open_case REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_open_case_cell_count();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER open_case_cell_truncate AFTER TRUNCATE ON public.open_case FOR EACH STATEMENT EXECUTE FUNCTION cityops_rollup_clear('open_case_cell');\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER open_case_cell_update AFTER UPDATE OF cell, units, severity, deadline, geom ON public.open_case FOR EACH ROW WHEN (((old.cell IS DISTINCT FROM new.cell) OR (old.units[1:3] IS DISTINCT FROM new.units[1:3]) OR (old.severity IS DISTINCT FROM new.severity) OR (old.deadline IS DISTINCT FROM new.deadline) OR ((old.geom)::bytea IS DISTINCT FROM (new.geom)::bytea))) EXECUTE FUNCTION cityops_open_case_cell_follow();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(FILL, execution_options={"no_parameters": True})


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER open_case_cell_update ON public.open_case;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER open_case_cell_truncate ON public.open_case;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER open_case_cell_insert ON public.open_case;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER open_case_cell_delete ON public.open_case;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER case_file_cell_day_truncate ON public.case_file;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_rollup_clear;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_open_case_tick_at;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_open_case_tick;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_open_case_cell_follow;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_open_case_cell_fold;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_open_case_cell_count;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_case_cells;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_case_cells(box geometry, resolution integer)\n"
        " RETURNS TABLE(lon double precision, lat double precision, count bigint, severity text, overdue bigint)\n"
        " LANGUAGE sql\n"
        " STABLE SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "        -- the caller's open cases in the box gathered per H3 cell (at the mean of its points): the zoomed-out\n"
        "        -- map's question, counted inside, so a cell's row leaves the function instead of each case's (twice as fast)\n"
        "        SELECT avg(ST_X(geom)), avg(ST_Y(geom)), count(*), max(severity)::text, count(*) FILTER (WHERE deadline < now())\n"
        "        FROM open_case\n"
        "        WHERE geom && box AND units @> (SELECT ARRAY[cityops_scope_unit()])  -- (SELECT …): once, not once a row\n"
        "          AND ((SELECT cityops_scope_department()) IS NULL OR departments @> (SELECT ARRAY[cityops_scope_department()]))\n"
        "        GROUP BY cityops_h3_parent(cell, resolution)\n"
        "    $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_case_cells(geometry,integer) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_case_cells(geometry,integer) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TABLE open_case_cell, open_case_tick; DROP INDEX ix_open_case_deadline;",
        execution_options={"no_parameters": True},
    )
