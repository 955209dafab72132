CREATE OR REPLACE FUNCTION public.cityops_reoffer(released bigint, fresh_since timestamp with time zone, local_time time without time zone, accept_within interval)
 RETURNS TABLE(next_id bigint, next_force_id bigint)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    DECLARE
        x record;
        pick bigint;
        tried bigint[];
    BEGIN
        SELECT a.id, a.case_id, a.force_id, a.capabilities, e.closed_at, e.geom, e.responsible_unit_id INTO x
        FROM assignment a JOIN case_file e ON e.id = a.case_id WHERE a.id = released;
        SELECT array_agg(a.force_id) INTO tried FROM assignment a
        WHERE a.case_id = x.case_id AND a.release_reason IN ('accept_timeout', 'unable');
        -- a force an active incident holds is its command's to assign (unified dispatch), never the sweeper's
        tried := coalesce(tried, '{}') || coalesce((
            SELECT array_agg(h.force_id) FROM incident_force h JOIN incident i ON i.id = h.incident_id
            WHERE h.released_at IS NULL AND i.state = 'active'), '{}');
        IF x.closed_at IS NULL THEN
            SELECT r.force_id INTO pick
            FROM cityops_rank_forces(x.geom, x.responsible_unit_id, 1, x.capabilities, fresh_since, local_time,
                                     tried) r
            WHERE r.tier = 0;
            PERFORM FROM force f WHERE f.id = pick AND f.status = 'available' FOR UPDATE;
            IF FOUND THEN
                INSERT INTO assignment (case_id, force_id, assigned_by, capabilities, accept_by, reoffer_of)
                VALUES (x.case_id, pick, 'system:redispatch', x.capabilities, now() + accept_within, x.id)
                RETURNING id INTO next_id;
                UPDATE force f SET status = 'assigned' WHERE f.id = pick;
                next_force_id := pick;
                RETURN NEXT;
                RETURN;
            END IF;
        END IF;
        INSERT INTO assignment_event (assignment_id, case_id, force_id, step, actor, note)
        VALUES (x.id, x.case_id, x.force_id, 'not_reoffered', 'system:redispatch',
                CASE WHEN x.closed_at IS NOT NULL THEN 'case_closed' ELSE 'no_candidate' END);
        RETURN NEXT;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_reoffer(bigint,timestamp with time zone,time without time zone,interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_reoffer(bigint,timestamp with time zone,time without time zone,interval) TO cityops_api;
