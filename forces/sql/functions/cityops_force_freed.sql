CREATE OR REPLACE FUNCTION public.cityops_force_freed(force bigint)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        UPDATE force f SET status = 'available'
        WHERE f.id = force AND f.status IN ('assigned', 'en_route', 'on_scene')
          AND NOT EXISTS (SELECT FROM assignment a WHERE a.force_id = force AND a.released_at IS NULL)
    $function$;
