CREATE OR REPLACE FUNCTION public.cityops_unit_outline()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        NEW.outline := CASE WHEN NEW.tier < 'grid' THEN ST_Simplify(NEW.geom, greatest(
            ST_XMax(NEW.geom) - ST_XMin(NEW.geom), ST_YMax(NEW.geom) - ST_YMin(NEW.geom)) / 400, true) END;
        RETURN NEW;
    END $function$;
