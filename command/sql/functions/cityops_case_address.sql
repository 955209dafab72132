CREATE OR REPLACE FUNCTION public.cityops_case_address()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        NEW.address := cityops_place_address(NEW.grid_id, NEW.geom);
        RETURN NEW;
    END $function$;
