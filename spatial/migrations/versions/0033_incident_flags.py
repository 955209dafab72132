"""cases reported inside an incident's area are flagged to it

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-03

A case filed inside an active incident's current area (perimeter, zones, closures, staging) is
flagged to it as it is inserted, once per statement (bulk imports pay one join, and nothing while
no incident is active); the commander then links or dismisses it.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_incident_flag_case()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public'\n"
        "AS $function$\n"
        "    -- cases reported inside an active incident's current area are flagged to it (the commander links or\n"
        "    -- dismisses each); once per statement, so a bulk import pays one join; definer's rights: the\n"
        "    -- reporter need not see the incident\n"
        "    BEGIN\n"
        "        IF EXISTS (SELECT 1 FROM incident WHERE state = 'active') THEN\n"
        "            INSERT INTO incident_case (incident_id, case_id, state, how)\n"
        "            SELECT DISTINCT a.incident_id, c.id, 'flagged', 'reported_inside'\n"
        "            FROM new_cases c JOIN incident_area a ON a.retired_at IS NULL AND ST_Intersects(a.geom, c.geom)\n"
        "            JOIN incident i ON i.id = a.incident_id AND i.state = 'active'\n"
        "            WHERE c.merged_into IS NULL\n"
        "            ON CONFLICT DO NOTHING;\n"
        "        END IF;\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_incident_flag_case() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER case_flagged_to_incident AFTER INSERT ON public.case_file REFERENCING NEW TABLE AS new_cases FOR EACH STATEMENT EXECUTE FUNCTION cityops_incident_flag_case();\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER case_flagged_to_incident ON public.case_file;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_incident_flag_case;",
        execution_options={"no_parameters": True},
    )
