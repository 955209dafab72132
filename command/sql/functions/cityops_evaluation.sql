CREATE OR REPLACE FUNCTION public.cityops_evaluation(unit_id bigint, since timestamp with time zone, until timestamp with time zone, by text, only_department text)
 RETURNS TABLE(key text, filed bigint, closed bigint, closed_on_time bigint, handled bigint, handled_on_time bigint, handling_s double precision, checked bigint, reworked bigint, dispatched bigint, returned bigint, moves bigint, late_moves bigint, escalated bigint, reopened bigint, supervised bigint)
 LANGUAGE sql
 STABLE
 SET search_path TO 'public', 'pg_temp'
AS $function$
        SELECT s.key, s.filed, s.closed, s.closed_on_time, s.handled, s.handled_on_time, s.handling_s, s.checked, s.reworked, s.dispatched, s.returned, s.moves, s.late_moves, s.escalated, s.reopened, s.supervised
        FROM cityops_evaluation_series(unit_id, since, until, by, only_department, NULL, NULL) s
    $function$;
REVOKE ALL ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_evaluation(bigint,timestamp with time zone,timestamp with time zone,text,text) TO cityops_api;
