CREATE OR REPLACE FUNCTION public.cityops_open_case_counts(wanted bigint[])
 RETURNS TABLE(unit_id bigint, open bigint, overdue bigint)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        SELECT counted, count(*), count(*) FILTER (WHERE deadline < now()) FROM (
            SELECT (SELECT u FROM unnest(units) WITH ORDINALITY AS chain(u, i) WHERE u = ANY(wanted)
                    ORDER BY i LIMIT 1) AS counted, deadline
            FROM case_file WHERE state NOT IN ('closed', 'void') AND units && wanted AND units @> ARRAY[cityops_scope_unit()]
          AND (cityops_scope_department() IS NULL OR departments @> ARRAY[cityops_scope_department()])
        ) open_cases GROUP BY counted
    $function$;
REVOKE ALL ON FUNCTION public.cityops_open_case_counts(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_open_case_counts(bigint[]) TO cityops_api;
