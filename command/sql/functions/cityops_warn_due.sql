CREATE OR REPLACE FUNCTION public.cityops_warn_due(at timestamp with time zone, ahead interval, lim integer)
 RETURNS TABLE(case_id bigint, state text, due timestamp with time zone)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        WITH soon AS (
            UPDATE case_clock k SET due_warned = true
            FROM (SELECT c.case_id FROM case_clock c WHERE c.due_at <= at + ahead AND c.due_at > at
                  AND NOT c.due_warned ORDER BY c.due_at LIMIT lim FOR UPDATE SKIP LOCKED) AS due
            WHERE k.case_id = due.case_id
            RETURNING k.case_id, k.due_at
        )
        SELECT s.case_id, e.state, s.due_at FROM soon s JOIN case_file e ON e.id = s.case_id
    $function$;
REVOKE ALL ON FUNCTION public.cityops_warn_due(timestamp with time zone,interval,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_warn_due(timestamp with time zone,interval,integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_warn_due(timestamp with time zone,interval,integer) TO cityops_api;
