CREATE OR REPLACE FUNCTION public.cityops_force_status_announce()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        PERFORM pg_notify('cityops_positions', NEW.id::text);
        RETURN NULL;
    END $function$;
