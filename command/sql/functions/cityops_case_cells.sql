CREATE OR REPLACE FUNCTION public.cityops_case_cells(box geometry, resolution integer)
 RETURNS TABLE(lon double precision, lat double precision, count bigint, severity text, overdue bigint)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        -- the caller's open cases in the box gathered per H3 cell (at the mean of its points): the zoomed-out
        -- map's question, counted inside, so a cell's row leaves the function instead of each case's (twice as fast)
        SELECT avg(ST_X(geom)), avg(ST_Y(geom)), count(*), max(severity)::text, count(*) FILTER (WHERE deadline < now())
        FROM open_case
        WHERE geom && box AND units @> (SELECT ARRAY[cityops_scope_unit()])  -- (SELECT …): once, not once a row
          AND ((SELECT cityops_scope_department()) IS NULL OR departments @> (SELECT ARRAY[cityops_scope_department()]))
        GROUP BY cityops_h3_parent(cell, resolution)
    $function$;
REVOKE ALL ON FUNCTION public.cityops_case_cells(geometry,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_case_cells(geometry,integer) TO cityops_api;
