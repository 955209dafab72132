CREATE OR REPLACE FUNCTION public.cityops_building_at(grid bigint, lon double precision, lat double precision)
 RETURNS text
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
AS $function$
    -- The building of this grid that covers the point, as the JSON locate returns; probed by
    -- parent (a grid has tens of buildings), not through the GiST index of every unit.
    DECLARE
        point geometry := ST_SetSRID(ST_MakePoint(lon, lat), 4326);
        found text;
    BEGIN
        SELECT json_build_object('code', b.code, 'name', b.name, 'tier', b.tier, 'kind', b.kind,
                                 'synthetic', b.synthetic)::text INTO found
        FROM (SELECT code, name, tier, kind, synthetic, geom FROM unit
              WHERE parent_id = grid AND tier = 'building' OFFSET 0) AS b
        WHERE ST_Covers(b.geom, point) ORDER BY b.code LIMIT 1;
        RETURN found;
    END $function$;
