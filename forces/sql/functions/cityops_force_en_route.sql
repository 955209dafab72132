CREATE OR REPLACE FUNCTION public.cityops_force_en_route(assignment bigint)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        UPDATE force f SET status = 'en_route' FROM assignment a
        WHERE a.id = assignment AND a.accepted_at IS NOT NULL AND a.released_at IS NULL
          AND f.id = a.force_id AND f.status = 'assigned'
    $function$;
