CREATE OR REPLACE FUNCTION public.cityops_evaluation_rollup_add(added bigint[])
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- Counts these stored moves into evaluation_rollup, once by their day and once by their month (a
    -- rebuild, the migration's fill; a new statement's moves are counted by cityops_evaluation_rollup_follow
    -- the same way, from its own rows). The rows are appended, never updated: two writers never wait for
    -- one row, and cityops_evaluation_rollup_fold merges a key's rows later (a sum is a sum however many
    -- rows it is spread over).
    BEGIN
        INSERT INTO evaluation_rollup (month, bucket, area_id, area, department, role, filed, closed, closed_on_time,
            handled, handled_on_time, handling_s, checked, reworked, dispatched, returned, moves, late_moves,
            escalated, reopened, supervised)
        SELECT s.month, CASE WHEN s.month THEN date_trunc('month', m.day)::date ELSE m.day END,
            m.area[cardinality(m.area)], m.area, m.department, m.role, sum(m.filed), sum(m.closed), sum(m.closed_on_time), sum(m.handled),
            sum(m.handled_on_time), coalesce(sum(m.handling_s), 0), sum(m.checked), sum(m.reworked),
            sum(m.dispatched), sum(m.returned), sum(m.moves), sum(m.late_moves), sum(m.escalated), sum(m.reopened),
            sum(m.supervised)
        FROM (SELECT (e.at AT TIME ZONE cityops_rollup_zone())::date AS day, e.* FROM evaluation_move e
              WHERE e.id = ANY(added)) m
        CROSS JOIN (VALUES (false), (true)) s(month)
        GROUP BY 1, 2, 3, 4, 5, 6;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_evaluation_rollup_add(bigint[]) FROM PUBLIC;
