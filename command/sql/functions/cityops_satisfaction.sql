CREATE OR REPLACE FUNCTION public.cityops_satisfaction(unit_id bigint, since timestamp with time zone, until timestamp with time zone, by text, only_department text)
 RETURNS TABLE(key text, satisfied bigint, basically_satisfied bigint, unsatisfied bigint)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
        SELECT s.key, s.satisfied, s.basically_satisfied, s.unsatisfied
        FROM cityops_satisfaction_series(unit_id, since, until, by, only_department, NULL, NULL) s
    $function$;
REVOKE ALL ON FUNCTION public.cityops_satisfaction(bigint,timestamp with time zone,timestamp with time zone,text,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_satisfaction(bigint,timestamp with time zone,timestamp with time zone,text,text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_satisfaction(bigint,timestamp with time zone,timestamp with time zone,text,text) TO cityops_api;
