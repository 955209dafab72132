CREATE OR REPLACE FUNCTION public.cityops_clock_born()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    BEGIN
        SELECT e.state, e.units[2], e.units[3] INTO NEW.state, NEW.district, NEW.street FROM case_file e
        WHERE e.id = NEW.case_id;
        RETURN NEW;
    END $function$;
