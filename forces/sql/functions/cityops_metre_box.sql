CREATE OR REPLACE FUNCTION public.cityops_metre_box(at geometry, metres double precision)
 RETURNS geometry
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
        SELECT ST_Expand(at, metres / (110000 * cos(radians(least(abs(ST_Y(at)) + metres / 110000, 89)))),
                         metres / 110000)
    $function$;
