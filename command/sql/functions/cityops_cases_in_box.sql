CREATE OR REPLACE FUNCTION public.cityops_cases_in_box(box geometry)
 RETURNS SETOF bigint
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        SELECT id FROM case_file
        WHERE geom && box AND units @> ARRAY[cityops_scope_unit()]
          AND (cityops_scope_department() IS NULL OR departments @> ARRAY[cityops_scope_department()])
    $function$;
REVOKE ALL ON FUNCTION public.cityops_cases_in_box(geometry) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_cases_in_box(geometry) TO cityops_api;
