CREATE OR REPLACE FUNCTION public.cityops_warn_due(at timestamp with time zone, ahead interval, lim integer)
 RETURNS TABLE(event_id bigint, state text, due timestamp with time zone)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        WITH soon AS (
            UPDATE case_clock k SET due_warned = true
            FROM (SELECT c.event_id FROM case_clock c WHERE c.due_at <= at + ahead AND c.due_at > at
                  AND NOT c.due_warned ORDER BY c.due_at LIMIT lim FOR UPDATE SKIP LOCKED) AS due
            WHERE k.event_id = due.event_id
            RETURNING k.event_id, k.due_at
        )
        SELECT s.event_id, e.state, s.due_at FROM soon s JOIN event e ON e.id = s.event_id
    $function$;
REVOKE ALL ON FUNCTION public.cityops_warn_due(timestamp with time zone,interval,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_warn_due(timestamp with time zone,interval,integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_warn_due(timestamp with time zone,interval,integer) TO cityops_api;
