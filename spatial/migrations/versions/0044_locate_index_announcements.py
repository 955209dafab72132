"""locate index announcements: every change to the units or the H3 coverage is NOTIFYed

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-04

Each API process holds the locate index in memory (``grid.locate_index``) and must know when it goes
stale: statement triggers on ``unit`` (the columns locate reads), ``h3_cell`` and ``h3_coverage``
announce on ``cityops_boundaries``; PostgreSQL delivers them at commit, once per distinct payload.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_boundaries_announce()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        "AS $function$\n"
        "    -- Every process holding the locate index in memory (grid.locate_index) reloads it: the units,\n"
        "    -- their chains or the H3 coverage changed. Once a statement; delivered when the change commits.\n"
        "    BEGIN\n"
        "        PERFORM pg_notify('cityops_boundaries', TG_TABLE_NAME);\n"
        "        RETURN NULL;\n"
        "    END $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER h3_cell_boundaries_announce AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.h3_cell FOR EACH STATEMENT EXECUTE FUNCTION cityops_boundaries_announce();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER h3_coverage_boundaries_announce AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.h3_coverage FOR EACH STATEMENT EXECUTE FUNCTION cityops_boundaries_announce();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER unit_boundaries_announce AFTER INSERT OR DELETE OR UPDATE OF code, name, tier, kind, synthetic, parent_id, geom, chain, has_buildings, boundary_version_id OR TRUNCATE ON public.unit FOR EACH STATEMENT EXECUTE FUNCTION cityops_boundaries_announce();\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER unit_boundaries_announce ON public.unit;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER h3_coverage_boundaries_announce ON public.h3_coverage;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER h3_cell_boundaries_announce ON public.h3_cell;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_boundaries_announce;",
        execution_options={"no_parameters": True},
    )
