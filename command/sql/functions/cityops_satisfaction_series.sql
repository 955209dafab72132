CREATE OR REPLACE FUNCTION public.cityops_satisfaction_series(unit_id bigint, since timestamp with time zone, until timestamp with time zone, by text, only_department text, step text, zone text)
 RETURNS TABLE(bucket date, key text, satisfied bigint, basically_satisfied bigint, unsatisfied bigint)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        SELECT CASE WHEN step IS NOT NULL THEN date_trunc(step, r.rated_at AT TIME ZONE zone)::date END,
               CASE by WHEN 'area' THEN coalesce(e.units[(SELECT cardinality(u.ancestors) + 2 FROM unit u
                                                            WHERE u.id = unit_id)], unit_id)::text
                       ELSE coalesce(e.handling_department, '') END,
               count(*) FILTER (WHERE r.satisfaction = 'satisfied'),
               count(*) FILTER (WHERE r.satisfaction = 'basically_satisfied'),
               count(*) FILTER (WHERE r.satisfaction = 'unsatisfied')
        FROM report r JOIN case_file e ON e.id = r.case_id
        WHERE by IN ('area', 'department') AND r.rated_at >= since AND r.rated_at < until
          AND e.units @> ARRAY[unit_id] AND (only_department IS NULL OR e.handling_department = only_department)
          AND (step IS NULL OR step IN ('day', 'week'))
        GROUP BY 1, 2
    $function$;
REVOKE ALL ON FUNCTION public.cityops_satisfaction_series(bigint,timestamp with time zone,timestamp with time zone,text,text,text,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_satisfaction_series(bigint,timestamp with time zone,timestamp with time zone,text,text,text,text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_satisfaction_series(bigint,timestamp with time zone,timestamp with time zone,text,text,text,text) TO cityops_api;
