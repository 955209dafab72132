CREATE OR REPLACE FUNCTION public.cityops_clock_follows_state()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    BEGIN
        UPDATE case_clock SET state = NEW.state WHERE case_id = NEW.id AND state <> NEW.state;
        RETURN NULL;
    END $function$;
