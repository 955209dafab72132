"""change events from moves, assignments, incidents and alarms; the sequencer; the change feed in scope

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-05

The declared objects of migration 0052: the triggers that write a change for each move of a live case, each
assignment, incident and alarm change; the sequencer that numbers committed changes; the delivery loop's read;
the feed's row-level security (the case's rule).
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

from alembic import op

revision: str = "0053"
down_revision: str | None = "0052"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_change_from_alarm()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        "AS $function$\n"
        "    BEGIN\n"
        "        INSERT INTO change_event (type, subject, case_id, units, data)\n"
        "        SELECT 'alarm.changed', 'alarm/' || NEW.id, NEW.case_id, NEW.units,\n"
        "               jsonb_build_object(\n"
        "                   'alarm_id', NEW.id, 'kind', NEW.kind, 'rule', r.name, 'severity', r.severity,\n"
        "                   'state', NEW.state, 'value', NEW.value, 'case_id', NEW.case_id,\n"
        "                   'lon', round(ST_X(NEW.geom)::numeric, 6), 'lat', round(ST_Y(NEW.geom)::numeric, 6),\n"
        "                   'at', now())\n"
        "        FROM sensor_rule r WHERE r.id = NEW.rule_id;\n"
        "        RETURN NULL;\n"
        "    END $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_change_from_assignment()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        "AS $function$\n"
        "    BEGIN\n"
        "        INSERT INTO change_event (type, subject, case_id, units, departments, data)\n"
        "        SELECT 'assignment.changed', 'assignment/' || NEW.id, e.id, e.units, e.departments,\n"
        "               jsonb_build_object(\n"
        "                   'assignment_id', NEW.id, 'case_id', e.id, 'force', f.code, 'force_name', f.name,\n"
        "                   'state', CASE WHEN NEW.released_at IS NOT NULL THEN 'released'\n"
        "                                 WHEN NEW.arrived_at IS NOT NULL THEN 'arrived'\n"
        "                                 WHEN NEW.accepted_at IS NOT NULL THEN 'accepted' ELSE 'offered' END,\n"
        "                   'release_reason', NEW.release_reason, 'accept_by', NEW.accept_by, 'at', now())\n"
        "        FROM case_file e JOIN force f ON f.id = NEW.force_id\n"
        "        WHERE e.id = NEW.case_id;\n"
        "        RETURN NULL;\n"
        "    END $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_change_from_incident()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        "AS $function$\n"
        "    BEGIN\n"
        "        INSERT INTO change_event (type, subject, units, departments, data)\n"
        "        VALUES ('incident.changed', 'incident/' || NEW.code, NEW.units, NEW.departments,\n"
        "                jsonb_build_object(\n"
        "                    'incident', NEW.code, 'title', NEW.title, 'class', NEW.class_code, 'level', NEW.level,\n"
        "                    'state', NEW.state, 'version', NEW.version, 'lon', round(ST_X(NEW.command_post)::numeric, 6),\n"
        "                    'lat', round(ST_Y(NEW.command_post)::numeric, 6), 'at', now()));\n"
        "        RETURN NULL;\n"
        "    END $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_change_from_transitions()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        "AS $function$\n"
        "    BEGIN\n"
        "        -- one row per move of a live case (an imported history's moves happened elsewhere, long ago)\n"
        "        INSERT INTO change_event (type, subject, case_id, units, departments, at, data)\n"
        "        SELECT CASE WHEN t.seq = 1 THEN 'case.created' WHEN t.to_state = 'closed' THEN 'case.closed'\n"
        "                    ELSE 'case.moved' END,\n"
        "               'case/' || e.id, e.id, e.units, e.departments, t.at,\n"
        "               jsonb_build_object(\n"
        "                   'case_id', e.id, 'action', t.action, 'from_state', t.from_state, 'state', t.to_state,\n"
        "                   'version', t.seq - 1, 'category', e.category_code, 'severity', e.severity,\n"
        "                   'source', e.source, 'responsible_unit', r.code, 'district', d.code,\n"
        "                   'departments', to_jsonb(e.departments), 'department', t.department,\n"
        "                   'deadline', t.deadline, 'lon', round(ST_X(e.geom)::numeric, 6),\n"
        "                   'lat', round(ST_Y(e.geom)::numeric, 6), 'address', e.address, 'at', t.at)\n"
        "        FROM new_rows t\n"
        "        JOIN case_file e ON e.id = t.case_id AND e.import_batch_id IS NULL\n"
        "        JOIN unit r ON r.id = e.responsible_unit_id\n"
        "        LEFT JOIN unit d ON d.id = e.units[2]\n"
        "        ORDER BY t.id;\n"
        "        RETURN NULL;\n"
        "    END $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_change_sequence()\n"
        " RETURNS bigint\n"
        " LANGUAGE sql\n"
        " SECURITY DEFINER\n"
        "AS $function$\n"
        "        -- committed changes not numbered yet, numbered after the highest number in id order (one caller\n"
        "        -- at a time: the sequencer loop's lock); a change committed after this snapshot gets a later number\n"
        "        WITH pending AS (\n"
        "            SELECT id, row_number() OVER (ORDER BY id) AS n FROM change_event WHERE seq IS NULL ORDER BY id LIMIT 50000\n"
        "        ), numbered AS (\n"
        "            UPDATE change_event c SET seq = (SELECT coalesce(max(seq), 0) FROM change_event) + p.n\n"
        "            FROM pending p WHERE c.id = p.id\n"
        "            RETURNING c.seq\n"
        "        )\n"
        "        SELECT coalesce(max(seq), 0) FROM numbered\n"
        "    $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_changes_after(after bigint, most integer)\n"
        " RETURNS SETOF change_event\n"
        " LANGUAGE sql\n"
        " STABLE SECURITY DEFINER\n"
        "AS $function$\n"
        "        -- every numbered change after a cursor, for the delivery loop, which confines each subscription to\n"
        "        -- its owner's jurisdiction itself (the pull feed reads the table under row-level security instead)\n"
        "        SELECT * FROM change_event WHERE seq > after ORDER BY seq LIMIT most\n"
        "    $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER assignment_change_event AFTER INSERT OR UPDATE OF released_at, accepted_at, arrived_at ON public.assignment FOR EACH ROW EXECUTE FUNCTION cityops_change_from_assignment();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER case_transition_change_event AFTER INSERT ON public.case_transition REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_change_from_transitions();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER incident_change_event AFTER INSERT OR UPDATE OF state, level, units, version ON public.incident FOR EACH ROW EXECUTE FUNCTION cityops_change_from_incident();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER sensor_alarm_change_event AFTER INSERT OR UPDATE OF state, case_id ON public.sensor_alarm FOR EACH ROW EXECUTE FUNCTION cityops_change_from_alarm();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE POLICY change_event_in_scope ON public.change_event AS PERMISSIVE FOR SELECT TO cityops_api\n"
        "    USING (((units @> ARRAY[cityops_scope_unit()]) AND ((cityops_scope_department() IS NULL) OR (departments @> ARRAY[cityops_scope_department()]))));\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP POLICY change_event_in_scope ON public.change_event;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER sensor_alarm_change_event ON public.sensor_alarm;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER incident_change_event ON public.incident;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER case_transition_change_event ON public.case_transition;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER assignment_change_event ON public.assignment;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_changes_after;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_change_sequence;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_change_from_transitions;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_change_from_incident;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_change_from_assignment;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_change_from_alarm;",
        execution_options={"no_parameters": True},
    )
