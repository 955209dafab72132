CREATE OR REPLACE FUNCTION public.cityops_case_cell_day_fold()
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- Merges the rows appended since the last fold into one row per key, dropping keys that came to zero (the
    -- worker calls it every few seconds); returns how many rows fewer case_cell_day holds. Rows of open
    -- transactions are invisible here and wait for the next fold; a concurrent fold skips (one at a time).
    DECLARE
        merged bigint;
    BEGIN
        IF NOT pg_try_advisory_xact_lock(hashtext('cityops_case_cell_day_fold')) THEN
            RETURN 0;
        END IF;
        WITH fresh AS (
            SELECT DISTINCT r.day, r.cell FROM case_cell_day r WHERE NOT r.folded
        ), gone AS (
            DELETE FROM case_cell_day r USING fresh f WHERE r.day = f.day AND r.cell = f.cell
            RETURNING r.*
        ), kept AS (
            INSERT INTO case_cell_day (day, cell, area, category_code, source, cases, folded)
            SELECT g.day, g.cell, g.area, g.category_code, g.source, sum(g.cases), true
            FROM gone g GROUP BY 1, 2, 3, 4, 5 HAVING sum(g.cases) <> 0
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept) INTO merged;
        RETURN merged;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_case_cell_day_fold() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_case_cell_day_fold() TO cityops_api;
