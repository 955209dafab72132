CREATE OR REPLACE FUNCTION public.cityops_pick(candidates bigint[], lon double precision, lat double precision, snap double precision)
 RETURNS bigint
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
AS $function$
    -- The first candidate (lowest code) covering the point; failing that, the first within
    -- snap degrees (the point sits in an overlay sliver between two units).
    DECLARE
        point geometry := ST_SetSRID(ST_MakePoint(lon, lat), 4326);
        found bigint;
    BEGIN
        SELECT cand.id INTO found FROM unnest(candidates) WITH ORDINALITY AS cand(id, n)
        WHERE EXISTS (SELECT 1 FROM unit_piece p WHERE p.unit_id = cand.id AND p.geom && point
                      AND ST_Covers(p.geom, point))
        ORDER BY cand.n LIMIT 1;
        IF found IS NULL THEN
            SELECT cand.id INTO found FROM unnest(candidates) WITH ORDINALITY AS cand(id, n)
            WHERE EXISTS (SELECT 1 FROM unit_piece p WHERE p.unit_id = cand.id
                          AND ST_DWithin(p.geom, point, snap))
            ORDER BY cand.n LIMIT 1;
        END IF;
        RETURN found;
    END $function$;
