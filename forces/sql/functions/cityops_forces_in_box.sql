CREATE OR REPLACE FUNCTION public.cityops_forces_in_box(box geometry)
 RETURNS SETOF bigint
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        SELECT p.force_id FROM force_position p JOIN force f ON f.id = p.force_id
        WHERE p.geom && box AND f.units @> ARRAY[cityops_scope_unit()]
          AND (cityops_scope_department() IS NULL OR f.department = cityops_scope_department())
    $function$;
REVOKE ALL ON FUNCTION public.cityops_forces_in_box(geometry) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_forces_in_box(geometry) TO cityops_api;
