CREATE OR REPLACE FUNCTION public.cityops_daily_flow(since timestamp with time zone, zone text)
 RETURNS TABLE(day date, reported bigint, closed bigint)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        SELECT day, sum(reported)::bigint, sum(closed)::bigint FROM (
            SELECT (created_at AT TIME ZONE zone)::date AS day, 1 AS reported, 0 AS closed FROM case_file
            WHERE created_at >= since AND units @> ARRAY[cityops_scope_unit()]
          AND (cityops_scope_department() IS NULL OR departments @> ARRAY[cityops_scope_department()])
            UNION ALL
            SELECT (closed_at AT TIME ZONE zone)::date, 0, 1 FROM case_file
            WHERE closed_at >= since AND state = 'closed' AND units @> ARRAY[cityops_scope_unit()]
          AND (cityops_scope_department() IS NULL OR departments @> ARRAY[cityops_scope_department()])
        ) flow GROUP BY day ORDER BY day
    $function$;
REVOKE ALL ON FUNCTION public.cityops_daily_flow(timestamp with time zone,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_daily_flow(timestamp with time zone,text) TO cityops_api;
