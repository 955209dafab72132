CREATE OR REPLACE FUNCTION public.cityops_rollup_area(ancestors bigint[], id bigint)
 RETURNS bigint[]
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
        -- Where a grid's moves are rolled up: its chain down to the third unit (city, district, street in
        -- Nanjing; city, Jiangbei New Area, Pukou for Pukou's streets there), or to the grid in a shallower
        -- city. Coarse enough to compress a year of a city ~100-fold; and as it is the grid's own chain, an
        -- evaluation of the city or of a district finds each move's scope and child in it as in the grid's.
        SELECT (ancestors || id)[1:3]
    $function$;
