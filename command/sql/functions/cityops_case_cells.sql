CREATE OR REPLACE FUNCTION public.cityops_case_cells(box geometry, resolution integer, rollup boolean DEFAULT true)
 RETURNS TABLE(lon double precision, lat double precision, count bigint, severity text, overdue bigint)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- The caller's open cases gathered per H3 cell: one row a cell at the mean of its cases, in the box that
    -- holds the mean (west and south edges in, east and north out), so a cell is never split at a tile's edge.
    -- Cells of resolution 7 or coarser, for a caller scoped to one of a chain's first three units and to no
    -- department, are read from open_case_cell (a z10 tile's 15,000 open cases are ~1,500 keys there), the
    -- cases due between its tick and now from open_case; anything else counts open_case (rollup => false too).
    DECLARE
        unit_id bigint := cityops_scope_unit();
        department text := cityops_scope_department();
        reach float8 := 4 * 1281256 * 0.378 ^ resolution;  -- metres: a cell's diameter, amply (H3's mean edge)
        near geometry := ST_Expand(
            box, reach / (111320 * cos(radians(greatest(abs(ST_YMin(box)), abs(ST_YMax(box)))))), reach / 110574);
        rolled boolean := rollup AND resolution <= 7 AND department IS NULL
            AND coalesce((SELECT cardinality(u.ancestors) < 3 FROM unit u WHERE u.id = unit_id), false);
        tick timestamptz := (SELECT t.at FROM open_case_tick t);
    BEGIN
        RETURN QUERY
        WITH due AS MATERIALIZED (  -- by the deadline's index, whatever the box: a handful of cases
            SELECT o.cell, o.deadline, o.geom, o.units FROM open_case o
            WHERE rolled AND o.deadline BETWEEN least(tick, now()) AND greatest(tick, now())
        ), keys AS (
            SELECT cityops_h3_parent(r.cell, resolution) AS cell, r.severity, sum(r.cases) AS cases,
                sum(r.lon_sum) AS lon_sum, sum(r.lat_sum) AS lat_sum, sum(r.cases) FILTER (WHERE r.overdue) AS overdue
            FROM open_case_cell r
            WHERE rolled AND r.anchor && near AND r.area @> ARRAY[unit_id]
            GROUP BY 1, 2
            UNION ALL  -- the cases whose overdue side the tick has not caught up with: due between it and now
            SELECT cityops_h3_parent(d.cell, resolution), NULL, 0, 0, 0,
                sum(CASE WHEN d.deadline < now() THEN 1 ELSE -1 END)
            FROM due d
            WHERE (d.deadline <= tick) <> (d.deadline < now()) AND d.geom && near AND d.units @> ARRAY[unit_id]
            GROUP BY 1
            UNION ALL
            SELECT cityops_h3_parent(o.cell, resolution), o.severity, count(*), sum(ST_X(o.geom)), sum(ST_Y(o.geom)),
                count(*) FILTER (WHERE o.deadline < now())
            FROM open_case o
            WHERE NOT rolled AND o.geom && near AND o.units @> ARRAY[unit_id]
              AND (department IS NULL OR o.departments @> ARRAY[department])
            GROUP BY 1, 2
        ), cells AS (
            SELECT sum(k.lon_sum) / sum(k.cases) AS lon, sum(k.lat_sum) / sum(k.cases) AS lat, sum(k.cases) AS cases,
                max(k.severity) FILTER (WHERE k.cases > 0) AS severity, sum(k.overdue) AS overdue
            FROM keys k GROUP BY k.cell HAVING sum(k.cases) > 0
        )
        SELECT c.lon, c.lat, c.cases::bigint, c.severity::text, coalesce(c.overdue, 0)::bigint FROM cells c
        WHERE c.lon >= ST_XMin(box) AND c.lon < ST_XMax(box) AND c.lat >= ST_YMin(box) AND c.lat < ST_YMax(box);
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_case_cells(geometry,integer,boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_case_cells(geometry,integer,boolean) TO cityops_api;
