CREATE OR REPLACE FUNCTION public.cityops_place_address(grid bigint, point geometry)
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
        SELECT nullif(concat_ws(' ', cityops_grid_address(grid), cityops_building_words(grid, point)), '')
    $function$;
