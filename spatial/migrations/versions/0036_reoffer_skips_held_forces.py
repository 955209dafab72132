"""the sweeper never re-offers a force an incident holds

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-03

Regulation art. 10 (unified dispatch): a force committed to an active incident goes to a case only by
the incident's command. The sweeper's re-offer after an accept timeout ranked every available force,
held ones too, and its system actor passed the unified-dispatch trigger.
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
        "    -- actors) passes: it never picks a held force (cityops_reoffer), and refusing would abort its round\n"
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
        "CREATE OR REPLACE FUNCTION public.cityops_reoffer(released bigint, fresh_since timestamp with time zone, local_time time without time zone, accept_within interval)\n"
        " RETURNS TABLE(next_id bigint, next_force_id bigint)\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    DECLARE\n"
        "        x record;\n"
        "        pick bigint;\n"
        "        tried bigint[];\n"
        "    BEGIN\n"
        "        SELECT a.id, a.case_id, a.force_id, a.capabilities, e.closed_at, e.geom, e.responsible_unit_id INTO x\n"
        "        FROM assignment a JOIN case_file e ON e.id = a.case_id WHERE a.id = released;\n"
        "        SELECT array_agg(a.force_id) INTO tried FROM assignment a\n"
        "        WHERE a.case_id = x.case_id AND a.release_reason IN ('accept_timeout', 'unable');\n"
        "        -- a force an active incident holds is its command's to assign (unified dispatch), never the sweeper's\n"
        "        tried := coalesce(tried, '{}') || coalesce((\n"
        "            SELECT array_agg(h.force_id) FROM incident_force h JOIN incident i ON i.id = h.incident_id\n"
        "            WHERE h.released_at IS NULL AND i.state = 'active'), '{}');\n"
        "        IF x.closed_at IS NULL THEN\n"
        "            SELECT r.force_id INTO pick\n"
        "            FROM cityops_rank_forces(x.geom, x.responsible_unit_id, 1, x.capabilities, fresh_since, local_time,\n"
        "                                     tried) r\n"
        "            WHERE r.tier = 0;\n"
        "            PERFORM FROM force f WHERE f.id = pick AND f.status = 'available' FOR UPDATE;\n"
        "            IF FOUND THEN\n"
        "                INSERT INTO assignment (case_id, force_id, assigned_by, capabilities, accept_by, reoffer_of)\n"
        "                VALUES (x.case_id, pick, 'system:redispatch', x.capabilities, now() + accept_within, x.id)\n"
        "                RETURNING id INTO next_id;\n"
        "                UPDATE force f SET status = 'assigned' WHERE f.id = pick;\n"
        "                next_force_id := pick;\n"
        "                RETURN NEXT;\n"
        "                RETURN;\n"
        "            END IF;\n"
        "        END IF;\n"
        "        INSERT INTO assignment_event (assignment_id, case_id, force_id, step, actor, note)\n"
        "        VALUES (x.id, x.case_id, x.force_id, 'not_reoffered', 'system:redispatch',\n"
        "                CASE WHEN x.closed_at IS NOT NULL THEN 'case_closed' ELSE 'no_candidate' END);\n"
        "        RETURN NEXT;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_reoffer(bigint,timestamp with time zone,time without time zone,interval) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_reoffer(bigint,timestamp with time zone,time without time zone,interval) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_reoffer(released bigint, fresh_since timestamp with time zone, local_time time without time zone, accept_within interval)\n"
        " RETURNS TABLE(next_id bigint, next_force_id bigint)\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    DECLARE\n"
        "        x record;\n"
        "        pick bigint;\n"
        "        tried bigint[];\n"
        "    BEGIN\n"
        "        SELECT a.id, a.case_id, a.force_id, a.capabilities, e.closed_at, e.geom, e.responsible_unit_id INTO x\n"
        "        FROM assignment a JOIN case_file e ON e.id = a.case_id WHERE a.id = released;\n"
        "        SELECT array_agg(a.force_id) INTO tried FROM assignment a\n"
        "        WHERE a.case_id = x.case_id AND a.release_reason IN ('accept_timeout', 'unable');\n"
        "        IF x.closed_at IS NULL THEN\n"
        "            SELECT r.force_id INTO pick\n"
        "            FROM cityops_rank_forces(x.geom, x.responsible_unit_id, 1, x.capabilities, fresh_since, local_time,\n"
        "                                     coalesce(tried, '{}')) r\n"
        "            WHERE r.tier = 0;\n"
        "            PERFORM FROM force f WHERE f.id = pick AND f.status = 'available' FOR UPDATE;\n"
        "            IF FOUND THEN\n"
        "                INSERT INTO assignment (case_id, force_id, assigned_by, capabilities, accept_by, reoffer_of)\n"
        "                VALUES (x.case_id, pick, 'system:redispatch', x.capabilities, now() + accept_within, x.id)\n"
        "                RETURNING id INTO next_id;\n"
        "                UPDATE force f SET status = 'assigned' WHERE f.id = pick;\n"
        "                next_force_id := pick;\n"
        "                RETURN NEXT;\n"
        "                RETURN;\n"
        "            END IF;\n"
        "        END IF;\n"
        "        INSERT INTO assignment_event (assignment_id, case_id, force_id, step, actor, note)\n"
        "        VALUES (x.id, x.case_id, x.force_id, 'not_reoffered', 'system:redispatch',\n"
        "                CASE WHEN x.closed_at IS NOT NULL THEN 'case_closed' ELSE 'no_candidate' END);\n"
        "        RETURN NEXT;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_reoffer(bigint,timestamp with time zone,time without time zone,interval) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_reoffer(bigint,timestamp with time zone,time without time zone,interval) TO cityops_api;\n",
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
