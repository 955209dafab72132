CREATE OR REPLACE FUNCTION public.cityops_unit_label_point()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        NEW.label_point := ST_PointOnSurface(NEW.geom);
        RETURN NEW;
    END $function$;
