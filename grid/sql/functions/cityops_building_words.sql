CREATE OR REPLACE FUNCTION public.cityops_building_words(grid bigint, point geometry)
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
        -- the building of the grid the point lies in, by what its name adds to the grid's (3号楼 → 3 号楼)
        SELECT regexp_replace(cityops_name_below(b.building->>'name', g.name), '^(\d+)\s*号楼$', '\1 号楼')
        FROM unit g, LATERAL (SELECT cityops_building_at(g.id, ST_X(point), ST_Y(point))::json AS building) AS b
        WHERE g.id = grid AND g.has_buildings AND b.building IS NOT NULL
    $function$;
