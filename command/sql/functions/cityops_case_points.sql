CREATE OR REPLACE FUNCTION public.cityops_case_points(box geometry)
 RETURNS TABLE(id bigint, geom geometry, cell bigint, state text, severity severity, category_code text, filed_at timestamp with time zone, deadline timestamp with time zone)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        SELECT id, geom, cell, state, severity, category_code, filed_at, deadline FROM case_file
        WHERE geom && box AND state NOT IN ('closed', 'void') AND units @> ARRAY[cityops_scope_unit()]
          AND (cityops_scope_department() IS NULL OR departments @> ARRAY[cityops_scope_department()])
    $function$;
REVOKE ALL ON FUNCTION public.cityops_case_points(geometry) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_case_points(geometry) TO cityops_api;
