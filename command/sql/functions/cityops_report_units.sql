CREATE OR REPLACE FUNCTION public.cityops_report_units()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        NEW.units := (SELECT e.units FROM event e WHERE e.id = NEW.event_id);
        RETURN NEW;
    END $function$;
