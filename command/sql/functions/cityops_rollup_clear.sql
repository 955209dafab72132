CREATE OR REPLACE FUNCTION public.cityops_rollup_clear()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- A truncated table's rollup (the trigger's argument) emptied with it: TRUNCATE fires no DELETE trigger
    BEGIN
        EXECUTE format('TRUNCATE %I', TG_ARGV[0]);
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_rollup_clear() FROM PUBLIC;
