CREATE OR REPLACE FUNCTION public.cityops_force_position_post()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    BEGIN
        SELECT f.fixed_post INTO NEW.fixed_post FROM force f WHERE f.id = NEW.force_id;
        RETURN NEW;
    END $function$;
