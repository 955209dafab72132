CREATE OR REPLACE FUNCTION public.cityops_sweep_assignments(fresh_since timestamp with time zone, local_time time without time zone, accept_within interval, redispatch boolean)
 RETURNS TABLE(expired_id bigint, case_id bigint, force_id bigint, next_id bigint, next_force_id bigint)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    DECLARE
        x record;
    BEGIN
        FOR x IN SELECT a.id FROM assignment a
                 WHERE a.released_at IS NULL AND a.accepted_at IS NULL AND a.accept_by < now()
                 ORDER BY a.id FOR UPDATE SKIP LOCKED LOOP
            expired_id := x.id; next_id := NULL; next_force_id := NULL;
            SELECT r.case_id, r.force_id INTO case_id, force_id
            FROM cityops_release_assignment(x.id, 'accept_timeout', '', 'system:dispatch') r;
            IF redispatch THEN
                SELECT r.next_id, r.next_force_id INTO next_id, next_force_id
                FROM cityops_reoffer(x.id, fresh_since, local_time, accept_within) r;
            END IF;
            RETURN NEXT;
        END LOOP;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_sweep_assignments(timestamp with time zone,time without time zone,interval,boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_sweep_assignments(timestamp with time zone,time without time zone,interval,boolean) TO cityops_api;
