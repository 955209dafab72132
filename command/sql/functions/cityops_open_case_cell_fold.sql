CREATE OR REPLACE FUNCTION public.cityops_open_case_cell_fold()
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- Merges the rows appended since the last fold into one row per key (its anchor the mean of its cases, inside
    -- the cell), dropping keys that came to zero (the worker calls it every few seconds); returns how many rows
    -- fewer open_case_cell holds. Rows of open transactions are invisible here and wait for the next fold.
    DECLARE
        merged bigint;
    BEGIN
        IF NOT pg_try_advisory_xact_lock(hashtext('cityops_open_case_cell_fold')) THEN
            RETURN 0;
        END IF;
        WITH fresh AS (
            SELECT DISTINCT r.cell FROM open_case_cell r WHERE NOT r.folded
        ), gone AS (
            DELETE FROM open_case_cell r USING fresh f WHERE r.cell = f.cell
            RETURNING r.*
        ), kept AS (
            INSERT INTO open_case_cell (cell, area, severity, overdue, cases, lon_sum, lat_sum, anchor, folded)
            SELECT g.cell, g.area, g.severity, g.overdue, sum(g.cases), sum(g.lon_sum), sum(g.lat_sum),
                ST_SetSRID(ST_MakePoint(sum(g.lon_sum) / sum(g.cases), sum(g.lat_sum) / sum(g.cases)), 4326), true
            FROM gone g GROUP BY 1, 2, 3, 4 HAVING sum(g.cases) <> 0
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept) INTO merged;
        RETURN merged;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_open_case_cell_fold() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_open_case_cell_fold() TO cityops_api;
