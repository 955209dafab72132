CREATE OR REPLACE FUNCTION public.cityops_case_units()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        NEW.units := (SELECT g.ancestors || g.id FROM unit g WHERE g.id = NEW.grid_id);
        RETURN NEW;
    END $function$;
