CREATE OR REPLACE FUNCTION public.cityops_case_opened()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    DECLARE
        s stage_limit;
        due timestamptz;
    BEGIN
        INSERT INTO case_transition (case_id, seq, action, from_state, to_state, actor, roles, unit_id, geom,
                                     prev_hash, hash, grid_id, due, deadline, since)
        VALUES (NEW.id, 0, 'report', '', NEW.state, 'intake:' || coalesce(NEW.source::text, 'unknown'), '{}',
                NEW.responsible_unit_id, NEW.geom, '', '', NEW.grid_id, NULL, NEW.deadline, NEW.created_at);
        SELECT * INTO s FROM stage_limit WHERE state = NEW.state;
        IF FOUND AND s.time_limit IS NOT NULL THEN
            due := now() + CASE s.limit_kind WHEN 'urgent_hours' THEN make_interval(secs => s.time_limit * 3600)
                                             ELSE make_interval(days => s.time_limit::int) END;
        END IF;
        INSERT INTO case_clock (case_id, due_at, escalate_at) VALUES (NEW.id, due, due);
        RETURN NULL;
    END $function$;
