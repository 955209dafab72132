"""incident flags only open cases filed since the incident opened

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-03

A historic import (a year of closed cases) inside an active incident's area flagged every old case
to it, and a commander's list filled with cases that ended before the incident began.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
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
        "    -- open cases reported inside an active incident's current area since it opened are flagged to it (the\n"
        "    -- commander links or dismisses each); a historic import's old or closed cases are not; once per statement, so a bulk import pays one join; definer's rights: the\n"
        "    -- reporter need not see the incident\n"
        "    BEGIN\n"
        "        IF EXISTS (SELECT 1 FROM incident WHERE state = 'active') THEN\n"
        "            INSERT INTO incident_case (incident_id, case_id, state, how)\n"
        "            SELECT DISTINCT a.incident_id, c.id, 'flagged', 'reported_inside'\n"
        "            FROM new_cases c JOIN incident_area a ON a.retired_at IS NULL AND ST_Intersects(a.geom, c.geom)\n"
        "            JOIN incident i ON i.id = a.incident_id AND i.state = 'active'\n"
        "            WHERE c.merged_into IS NULL AND c.state NOT IN ('closed', 'void') AND c.filed_at >= i.opened_at\n"
        "            ON CONFLICT DO NOTHING;\n"
        "        END IF;\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_incident_flag_case() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
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
