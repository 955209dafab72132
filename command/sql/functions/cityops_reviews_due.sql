CREATE OR REPLACE FUNCTION public.cityops_reviews_due(at timestamp with time zone, every interval, lim integer)
 RETURNS TABLE(case_id bigint, review_at timestamp with time zone)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        UPDATE case_clock k SET review_at = at + every
        FROM (SELECT c.case_id, c.review_at FROM case_clock c JOIN case_file e ON e.id = c.case_id
              WHERE c.review_at <= at AND e.state = 'parked'
              ORDER BY c.review_at LIMIT lim FOR UPDATE OF c SKIP LOCKED) AS due
        WHERE k.case_id = due.case_id
        RETURNING k.case_id, due.review_at
    $function$;
REVOKE ALL ON FUNCTION public.cityops_reviews_due(timestamp with time zone,interval,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_reviews_due(timestamp with time zone,interval,integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_reviews_due(timestamp with time zone,interval,integer) TO cityops_api;
