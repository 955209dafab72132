CREATE OR REPLACE FUNCTION public.cityops_evaluation_rollup_fold()
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- Merges the rows appended since the last fold into one row per key (the worker calls it every few
    -- seconds); returns how many rows fewer the rollup holds. Rows still being written by open transactions
    -- are invisible here and wait for the next fold; a concurrent fold skips (one at a time).
    DECLARE
        merged bigint;
    BEGIN
        IF NOT pg_try_advisory_xact_lock(hashtext('cityops_evaluation_rollup_fold')) THEN
            RETURN 0;
        END IF;
        WITH fresh AS (
            SELECT DISTINCT r.month, r.bucket, r.area_id FROM evaluation_rollup r WHERE NOT r.folded
        ), gone AS (
            DELETE FROM evaluation_rollup r USING fresh f
            WHERE r.month = f.month AND r.bucket = f.bucket AND r.area_id = f.area_id
            RETURNING r.*
        ), kept AS (
            INSERT INTO evaluation_rollup (month, bucket, area_id, area, department, role, folded, filed, closed,
                closed_on_time, handled, handled_on_time, handling_s, checked, reworked, dispatched, returned,
                moves, late_moves, escalated, reopened, supervised)
            SELECT g.month, g.bucket, g.area_id, g.area, g.department, g.role, true, sum(g.filed), sum(g.closed),
                sum(g.closed_on_time), sum(g.handled), sum(g.handled_on_time), sum(g.handling_s), sum(g.checked),
                sum(g.reworked), sum(g.dispatched), sum(g.returned), sum(g.moves), sum(g.late_moves),
                sum(g.escalated), sum(g.reopened), sum(g.supervised)
            FROM gone g GROUP BY 1, 2, 3, 4, 5, 6
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept) INTO merged;
        RETURN merged;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_evaluation_rollup_fold() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_evaluation_rollup_fold() TO cityops_api;
