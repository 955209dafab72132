CREATE OR REPLACE FUNCTION public.cityops_force_fix_partitions(keep interval, ahead integer DEFAULT 2)
 RETURNS TABLE(created integer, dropped integer)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- the position history's days (cityops_daily_partitions)
    SELECT * FROM cityops_daily_partitions('force_fix', keep, ahead)
$function$;
REVOKE ALL ON FUNCTION public.cityops_force_fix_partitions(interval,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_force_fix_partitions(interval,integer) TO cityops_api;
