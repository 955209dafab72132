CREATE OR REPLACE FUNCTION public.cityops_observation_partitions(keep interval, ahead integer DEFAULT 2)
 RETURNS TABLE(created integer, dropped integer)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- the readings' days (cityops_daily_partitions); their minute rollups go with them, hour rollups stay
    DELETE FROM observation_minute WHERE minute < ((now() - greatest(keep, interval '1 day')) AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC';
    SELECT * FROM cityops_daily_partitions('observation', keep, ahead)
$function$;
REVOKE ALL ON FUNCTION public.cityops_observation_partitions(interval,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_observation_partitions(interval,integer) TO cityops_api;
