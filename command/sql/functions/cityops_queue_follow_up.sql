CREATE OR REPLACE FUNCTION public.cityops_queue_follow_up(case_id bigint, moved bigint, outcome text, message text)
 RETURNS integer
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        WITH queued AS (
            INSERT INTO follow_up (report_id, case_id, transition_id, channel, outcome, message)
            SELECT r.id, r.case_id, moved, r.source::text, outcome, message FROM report r
            WHERE r.case_id = cityops_queue_follow_up.case_id
            ON CONFLICT DO NOTHING RETURNING 1
        )
        SELECT count(*)::int FROM queued
    $function$;
REVOKE ALL ON FUNCTION public.cityops_queue_follow_up(bigint,bigint,text,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_queue_follow_up(bigint,bigint,text,text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_queue_follow_up(bigint,bigint,text,text) TO cityops_api;
