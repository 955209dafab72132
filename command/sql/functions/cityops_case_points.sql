CREATE OR REPLACE FUNCTION public.cityops_case_points(box geometry)
 RETURNS TABLE(id bigint, geom geometry, cell bigint, state text, severity severity, category_code text, filed_at timestamp with time zone, deadline timestamp with time zone)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        -- open_case, not case_file: a view's 15,000 open cases sat on 7,500 heap pages of case_file
        SELECT case_id, geom, cell, state, severity, category_code, filed_at, deadline FROM open_case
        WHERE geom && box AND units @> (SELECT ARRAY[cityops_scope_unit()])  -- (SELECT …): once, not once a row
          AND ((SELECT cityops_scope_department()) IS NULL OR departments @> (SELECT ARRAY[cityops_scope_department()]))
    $function$;
REVOKE ALL ON FUNCTION public.cityops_case_points(geometry) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_case_points(geometry) TO cityops_api;
