"""case_cell_day: cases per H3 cell (resolution 8) and Beijing day, for hot-spot counting

Revision ID: 0057
Revises: 0056
Create Date: 2026-12-05

Issue 23 item 4 (hot-spot counting). A hot-spot analysis counted every case of its period in case_file:
for the city over a year of 1,000,000 cases, 1.25 s of a 1.85 s analysis, one single-threaded scan of
~700 MB of wide rows. ``case_cell_day`` holds the same count per Beijing day, resolution-8 cell, area (the
case's chain down to its street, as the evaluation rollup's), category and source, for the cases not voided:
~70 bytes a key instead of a case row, fewer keys than cases once a city files more than one case of a kind
in a cell a day. An analysis reads the whole days lying inside one of its steps from it and only the rest
(the ragged ends, a day a step boundary cuts) from case_file.

Statement triggers on case_file append each INSERT's and DELETE's counts (+1 / −1 per case), a row trigger
each UPDATE that voids or restores a case or changes its key (−1 old key, +1 new); rows are appended, never
updated, so concurrent writers never wait on one row, and the worker folds a key's rows into one every few
seconds. cityops_api reads it under row-level security as case_file's own policy (jurisdiction), and only a
caller without a department scope (a department's cases cannot be told apart in it). Filled here from
case_file.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0057"
down_revision: str | None = "0056"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = """
CREATE TABLE case_cell_day (
    day date NOT NULL,
    cell bigint NOT NULL,
    area bigint[] NOT NULL,
    category_code varchar(16) NOT NULL,
    source report_source,
    cases integer NOT NULL,
    folded boolean NOT NULL DEFAULT false
);
CREATE INDEX ix_case_cell_day_day ON case_cell_day (day, cell);
CREATE INDEX ix_case_cell_day_fresh ON case_cell_day (day, cell) WHERE NOT folded;
ALTER TABLE case_cell_day ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON case_cell_day TO cityops_api;
COMMENT ON TABLE case_cell_day IS 'Cases not voided per Beijing day of filing, H3 resolution-8 cell, area (units[1:3]), category and source, kept by triggers on case_file; a key may hold several rows until cityops_case_cell_day_fold merges them';
"""
FILL = """
INSERT INTO case_cell_day (day, cell, area, category_code, source, cases, folded)
SELECT (filed_at AT TIME ZONE cityops_rollup_zone())::date, cityops_h3_parent(cell, 8), units[1:3], category_code,
    source, count(*), true
FROM case_file WHERE state <> 'void' GROUP BY 1, 2, 3, 4, 5;
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(TABLE, execution_options={"no_parameters": True})
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_case_cell_day_count()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- A statement's filed (INSERT) or deleted (DELETE) cases counted into case_cell_day, +1 or -1 per case not\n"
        "    -- voided, one row per key. Statement level: a historic import's million rows are one INSERT … SELECT. The\n"
        "    -- rows are appended, never updated: two writers never wait for one row (cityops_case_cell_day_fold merges).\n"
        "    BEGIN\n"
        "        IF TG_OP = 'INSERT' THEN\n"
        "            INSERT INTO case_cell_day (day, cell, area, category_code, source, cases)\n"
        "            SELECT (filed_at AT TIME ZONE cityops_rollup_zone())::date, cityops_h3_parent(cell, 8), units[1:3],\n"
        "                category_code, source, count(*)\n"
        "            FROM new_rows WHERE state <> 'void' GROUP BY 1, 2, 3, 4, 5;\n"
        "        ELSE\n"
        "            INSERT INTO case_cell_day (day, cell, area, category_code, source, cases)\n"
        "            SELECT (filed_at AT TIME ZONE cityops_rollup_zone())::date, cityops_h3_parent(cell, 8), units[1:3],\n"
        "                category_code, source, -count(*)\n"
        "            FROM old_rows WHERE state <> 'void' GROUP BY 1, 2, 3, 4, 5;\n"
        "        END IF;\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_case_cell_day_count() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_case_cell_day_fold()\n"
        " RETURNS bigint\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- Merges the rows appended since the last fold into one row per key, dropping keys that came to zero (the\n"
        "    -- worker calls it every few seconds); returns how many rows fewer case_cell_day holds. Rows of open\n"
        "    -- transactions are invisible here and wait for the next fold; a concurrent fold skips (one at a time).\n"
        "    DECLARE\n"
        "        merged bigint;\n"
        "    BEGIN\n"
        "        IF NOT pg_try_advisory_xact_lock(hashtext('cityops_case_cell_day_fold')) THEN\n"
        "            RETURN 0;\n"
        "        END IF;\n"
        "        WITH fresh AS (\n"
        "            SELECT DISTINCT r.day, r.cell FROM case_cell_day r WHERE NOT r.folded\n"
        "        ), gone AS (\n"
        "            DELETE FROM case_cell_day r USING fresh f WHERE r.day = f.day AND r.cell = f.cell\n"
        "            RETURNING r.*\n"
        "        ), kept AS (\n"
        "            INSERT INTO case_cell_day (day, cell, area, category_code, source, cases, folded)\n"
        "            SELECT g.day, g.cell, g.area, g.category_code, g.source, sum(g.cases), true\n"
        "            FROM gone g GROUP BY 1, 2, 3, 4, 5 HAVING sum(g.cases) <> 0\n"
        "            RETURNING 1\n"
        "        )\n"
        "        SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept) INTO merged;\n"
        "        RETURN merged;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_case_cell_day_fold() FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_case_cell_day_fold() TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_case_cell_day_follow()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- A case voided or restored, moved to another cell, re-categorised, re-sourced, re-timed or re-scoped:\n"
        "    -- -1 under its old key, +1 under its new one (a voided case counts under neither), in the same transaction\n"
        "    BEGIN\n"
        "        INSERT INTO case_cell_day (day, cell, area, category_code, source, cases)\n"
        "        SELECT (c.filed_at AT TIME ZONE cityops_rollup_zone())::date, cityops_h3_parent(c.cell, 8), c.units[1:3],\n"
        "            c.category_code, c.source, c.cases\n"
        "        FROM (VALUES (OLD.filed_at, OLD.cell, OLD.units, OLD.category_code, OLD.source, OLD.state, -1),\n"
        "                     (NEW.filed_at, NEW.cell, NEW.units, NEW.category_code, NEW.source, NEW.state, 1))\n"
        "            AS c(filed_at, cell, units, category_code, source, state, cases)\n"
        "        WHERE c.state <> 'void';\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_case_cell_day_follow() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER case_file_cell_day_delete AFTER DELETE ON public.case_file REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_case_cell_day_count();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER case_file_cell_day_insert AFTER INSERT ON public.case_file REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_case_cell_day_count();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER case_file_cell_day_update AFTER UPDATE OF state, cell, category_code, source, filed_at, units ON public.case_file FOR EACH ROW WHEN ((((old.state = 'void'::text) IS DISTINCT FROM (new.state = 'void'::text)) OR (old.cell IS DISTINCT FROM new.cell) OR ((old.category_code)::text IS DISTINCT FROM (new.category_code)::text) OR (old.source IS DISTINCT FROM new.source) OR (old.filed_at IS DISTINCT FROM new.filed_at) OR (old.units[1:3] IS DISTINCT FROM new.units[1:3]))) EXECUTE FUNCTION cityops_case_cell_day_follow();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE POLICY case_cell_day_in_scope ON public.case_cell_day AS PERMISSIVE FOR SELECT TO cityops_api\n"
        "    USING (((area @> ARRAY[cityops_scope_unit()]) AND (cityops_scope_department() IS NULL)));\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(FILL, execution_options={"no_parameters": True})


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP POLICY case_cell_day_in_scope ON public.case_cell_day;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER case_file_cell_day_update ON public.case_file;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER case_file_cell_day_insert ON public.case_file;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER case_file_cell_day_delete ON public.case_file;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_case_cell_day_follow;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_case_cell_day_fold;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_case_cell_day_count;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql("DROP TABLE case_cell_day;")
