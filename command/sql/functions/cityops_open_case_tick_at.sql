CREATE OR REPLACE FUNCTION public.cityops_open_case_tick_at()
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- The tick open_case_cell's overdue side is kept to (a case due by it counts as overdue), for a writer:
    -- its shared lock, held to the writer's commit, keeps cityops_open_case_tick from moving past a case it
    -- cannot see yet. Read after the lock, so only in READ COMMITTED: an older snapshot could read a passed tick.
    BEGIN
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'open cases change in READ COMMITTED transactions only: open_case_cell reads its tick '
                'after its lock, which a % snapshot may predate', current_setting('transaction_isolation');
        END IF;
        PERFORM pg_advisory_xact_lock_shared(hashtext('cityops_open_case_tick'));
        RETURN (SELECT t.at FROM open_case_tick t);
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_open_case_tick_at() FROM PUBLIC;
