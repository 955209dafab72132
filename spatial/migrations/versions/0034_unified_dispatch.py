"""forces committed to an incident are assigned to cases only by its commanding chain (unified dispatch)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-03

Regulation art. 10: while an incident is active, the platforms of districts, streets and towns obey
unified dispatch. A force the incident holds (``incident_force``) is booked for a case only by a
user of the incident's commanding unit or above; anyone else is refused naming the incident, even
where row-level security hides the incident from them (``cityops_incident_holding``, definer's rights).
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_incident_holding(force_ids bigint[])\n"
        " RETURNS TABLE(force_id bigint, force_code text, incident_id bigint, code text, title text, chain bigint[])\n"
        " LANGUAGE sql\n"
        " STABLE SECURITY DEFINER\n"
        " SET search_path TO 'public'\n"
        "AS $function$\n"
        "    -- the active incidents holding these forces (unified dispatch), with the chain that commands each;\n"
        "    -- definer's rights: a street's connection must learn that a force is held even where row-level\n"
        "    -- security hides the incident from it, or it could not be told why it may not assign the force\n"
        "    SELECT h.force_id, f.code, i.id, i.code, i.title, u.ancestors || u.id\n"
        "    FROM incident_force h JOIN incident i ON i.id = h.incident_id AND i.state = 'active'\n"
        "    JOIN unit u ON u.id = i.commanding_unit_id JOIN force f ON f.id = h.force_id\n"
        "    WHERE h.force_id = ANY(force_ids) AND h.released_at IS NULL\n"
        "$function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_incident_holding(bigint[]) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_incident_holding(bigint[]) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_incident_unified_dispatch()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public'\n"
        "AS $function$\n"
        "    -- 统一调度: a force committed to an active incident goes to a case only by a user of the incident's\n"
        "    -- commanding chain (its commanding unit or above); whoever else books it, by whatever path (dispatch,\n"
        "    -- a borrowed force committed), is refused naming the incident. The sweeper's re-offer (system:\n"
        "    -- actors) passes: refusing it would abort the sweep round for every case\n"
        "    DECLARE\n"
        "        held record;\n"
        "    BEGIN\n"
        "        SELECT * INTO held FROM cityops_incident_holding(ARRAY[NEW.force_id]);\n"
        "        IF FOUND AND NEW.assigned_by NOT LIKE 'system:%' AND NOT EXISTS (\n"
        "            SELECT FROM app_user a\n"
        "            WHERE a.username = NEW.assigned_by AND a.department IS NULL AND a.unit_id = ANY(held.chain)\n"
        "        ) THEN\n"
        "            RAISE EXCEPTION 'force % is committed to incident % (%): its commander decides',\n"
        "                held.force_code, held.code, held.title\n"
        "                USING ERRCODE = 'object_in_use', HINT = 'ask the incident''s command to assign or release it';\n"
        "        END IF;\n"
        "        RETURN NEW;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_incident_unified_dispatch() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER assignment_unified_dispatch BEFORE INSERT ON public.assignment FOR EACH ROW EXECUTE FUNCTION cityops_incident_unified_dispatch();\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER assignment_unified_dispatch ON public.assignment;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_incident_unified_dispatch();",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_incident_holding(bigint[]);",
        execution_options={"no_parameters": True},
    )
