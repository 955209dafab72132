CREATE OR REPLACE FUNCTION public.cityops_force_on_scene(assignment bigint)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        UPDATE force f SET status = 'on_scene' FROM assignment a
        WHERE a.id = assignment AND a.arrived_at IS NOT NULL AND a.released_at IS NULL
          AND f.id = a.force_id AND f.status = 'en_route'
    $function$;
REVOKE ALL ON FUNCTION public.cityops_force_on_scene(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_force_on_scene(bigint) TO cityops_api;
