CREATE OR REPLACE FUNCTION public.cityops_open_cases_near(areas text[], cells bigint[], category text, lon double precision, lat double precision, window_hours double precision, radius_m double precision)
 RETURNS TABLE(id bigint, distance_m double precision, description text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    DECLARE
        here geography := ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography;
    BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended(area, 0)) FROM unnest(areas) AS area ORDER BY area;
        RETURN QUERY
            SELECT e.id, ST_Distance(e.geom::geography, here), e.description
            FROM case_file e
            WHERE e.cell = ANY(cells) AND e.category_code = category
              AND e.merged_into IS NULL AND e.state NOT IN ('closed', 'void')
              AND e.created_at > now() - window_hours * interval '1 hour'
              AND ST_DWithin(e.geom::geography, here, radius_m)
            ORDER BY 2, 1
            LIMIT 20;
    END $function$;
