"""open_case: the open cases' map columns in a narrow table of their own, kept by triggers on case_file

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-04

Issue 23 item 4 (zoomed-out tiles, hexagons). A zoomed-out view's open cases (15,000 in a z10 tile of
100,000 open) sat on 7,500 heap pages of case_file, one page each, as cases are stored in filing order:
the bitmap heap scan was 29 of the tile's 48 ms warm, and 300 ms from disk. ``open_case`` holds only
the open cases and only the columns the map reads (~100 bytes a row), so the same view reads a few
hundred pages. A per-cell count was not the rollup to build: at the tiles' finest resolution (9) a
cell × severity × deadline key holds about one open case, so it would compress nothing.

An INSERT into case_file adds its open rows in one statement (transition table: a historic import is
one INSERT … SELECT); an UPDATE of a column the map reads moves, removes (closed, void) or restores
(reopened) the case's row; a deleted case takes its row along (ON DELETE CASCADE).
``cityops_case_points`` (tiles from zoom 14, open hexagons) reads it, and ``cityops_case_cells`` gathers
it per cell for the zoomed-out tiles inside the function (a cell's row leaves it, not each case's).
Both take the caller's scope once (``(SELECT …)``), not once a row: a z10 tile 32 → 16.5 ms warm.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0048"
down_revision: str | None = "0047"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = """
CREATE TABLE open_case (
    case_id bigint PRIMARY KEY REFERENCES case_file (id) ON DELETE CASCADE,
    geom geometry(Point, 4326) NOT NULL,
    cell bigint NOT NULL,
    state text NOT NULL,
    severity severity NOT NULL,
    category_code varchar(16) NOT NULL,
    source report_source,
    filed_at timestamptz NOT NULL,
    deadline timestamptz NOT NULL,
    units bigint[] NOT NULL,
    departments text[] NOT NULL
);
CREATE INDEX ix_open_case_geom ON open_case USING gist (geom);
COMMENT ON TABLE open_case IS 'The open cases'' map columns, kept by triggers on case_file: a view''s open cases read from a few hundred pages of their own instead of one heap page of case_file each';
"""
FILL = """
INSERT INTO open_case (case_id, geom, cell, state, severity, category_code, source, filed_at, deadline, units, departments)
SELECT id, geom, cell, state, severity, category_code, source, filed_at, deadline, units, departments
FROM case_file WHERE state NOT IN ('closed', 'void');
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(TABLE, execution_options={"no_parameters": True})
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
        "CREATE OR REPLACE FUNCTION public.cityops_case_points(box geometry)\n"
        " RETURNS TABLE(id bigint, geom geometry, cell bigint, state text, severity severity, category_code text, filed_at timestamp with time zone, deadline timestamp with time zone)\n"
        " LANGUAGE sql\n"
        " STABLE SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "        -- open_case, not case_file: a view's 15,000 open cases sat on 7,500 heap pages of case_file\n"
        "        SELECT case_id, geom, cell, state, severity, category_code, filed_at, deadline FROM open_case\n"
        "        WHERE geom && box AND units @> (SELECT ARRAY[cityops_scope_unit()])  -- (SELECT …): once, not once a row\n"
        "          AND ((SELECT cityops_scope_department()) IS NULL OR departments @> (SELECT ARRAY[cityops_scope_department()]))\n"
        "    $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_case_points(geometry) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_case_points(geometry) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_open_case_add()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- A statement's new open cases join open_case (statement level: a historic import's million rows\n"
        "    -- are one INSERT … SELECT, not a million trigger calls)\n"
        "    BEGIN\n"
        "        INSERT INTO open_case (case_id, geom, cell, state, severity, category_code, source, filed_at, deadline,\n"
        "                               units, departments)\n"
        "        SELECT id, geom, cell, state, severity, category_code, source, filed_at, deadline, units, departments\n"
        "        FROM new_rows WHERE state NOT IN ('closed', 'void');\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_open_case_add() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_open_case_follow()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- A case that moved, closed or reopened, or whose place, severity, deadline or scope changed: its row in\n"
        "    -- open_case follows in the same transaction (gone once closed or voided, back when reopened)\n"
        "    BEGIN\n"
        "        IF NEW.state IN ('closed', 'void') THEN\n"
        "            DELETE FROM open_case WHERE case_id = NEW.id;\n"
        "        ELSE\n"
        "            INSERT INTO open_case (case_id, geom, cell, state, severity, category_code, source, filed_at, deadline,\n"
        "                                   units, departments)\n"
        "            VALUES (NEW.id, NEW.geom, NEW.cell, NEW.state, NEW.severity, NEW.category_code, NEW.source, NEW.filed_at,\n"
        "                    NEW.deadline, NEW.units, NEW.departments)\n"
        "            ON CONFLICT (case_id) DO UPDATE\n"
        "                SET geom = EXCLUDED.geom, cell = EXCLUDED.cell, state = EXCLUDED.state, severity = EXCLUDED.severity,\n"
        "                    category_code = EXCLUDED.category_code, source = EXCLUDED.source, filed_at = EXCLUDED.filed_at,\n"
        "                    deadline = EXCLUDED.deadline, units = EXCLUDED.units, departments = EXCLUDED.departments;\n"
        "        END IF;\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_open_case_follow() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER case_file_open_case_insert AFTER INSERT ON public.case_file REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_open_case_add();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER case_file_open_case_update AFTER UPDATE OF state, geom, cell, severity, category_code, source, filed_at, deadline, units, departments ON public.case_file FOR EACH ROW EXECUTE FUNCTION cityops_open_case_follow();\n",
        execution_options={"no_parameters": True},
    )

    op.get_bind().exec_driver_sql(FILL, execution_options={"no_parameters": True})


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER case_file_open_case_update ON public.case_file;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER case_file_open_case_insert ON public.case_file;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_open_case_follow;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_open_case_add;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_case_points(box geometry)\n"
        " RETURNS TABLE(id bigint, geom geometry, cell bigint, state text, severity severity, category_code text, filed_at timestamp with time zone, deadline timestamp with time zone)\n"
        " LANGUAGE sql\n"
        " STABLE SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "        SELECT id, geom, cell, state, severity, category_code, filed_at, deadline FROM case_file\n"
        "        WHERE geom && box AND state NOT IN ('closed', 'void') AND units @> ARRAY[cityops_scope_unit()]\n"
        "          AND (cityops_scope_department() IS NULL OR departments @> ARRAY[cityops_scope_department()])\n"
        "    $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_case_points(geometry) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_case_points(geometry) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql("DROP FUNCTION public.cityops_case_cells;")
    op.get_bind().exec_driver_sql("DROP TABLE open_case")
