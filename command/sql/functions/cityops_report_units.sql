CREATE OR REPLACE FUNCTION public.cityops_report_units()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        NEW.units := (SELECT e.units FROM case_file e WHERE e.id = NEW.case_id);
        RETURN NEW;
    END $function$;
