CREATE OR REPLACE FUNCTION public.cityops_unit_renamed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        NEW.initials := NULL;  -- the loader fills it again from the new name
        RETURN NEW;
    END $function$;
