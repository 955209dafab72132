CREATE OR REPLACE FUNCTION public.cityops_open_case_cell_count()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- A statement's new (INSERT) or gone (DELETE) open cases counted into open_case_cell, one row per key: +1 or
    -- -1 a case, its point added to or taken from the key's sums. Statement level: an import is one INSERT. The
    -- rows are appended, never updated: two writers never wait for one row (cityops_open_case_cell_fold merges).
    DECLARE
        tick timestamptz := cityops_open_case_tick_at();
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO open_case_cell (cell, area, severity, overdue, cases, lon_sum, lat_sum, anchor)
            SELECT cityops_h3_parent(n.cell, 7), n.units[1:3], n.severity, n.deadline <= tick, count(*),
                sum(ST_X(n.geom)), sum(ST_Y(n.geom)), ST_SetSRID(ST_MakePoint(avg(ST_X(n.geom)), avg(ST_Y(n.geom))), 4326)
            FROM new_rows n GROUP BY 1, 2, 3, 4;
        ELSE
            INSERT INTO open_case_cell (cell, area, severity, overdue, cases, lon_sum, lat_sum, anchor)
            SELECT cityops_h3_parent(o.cell, 7), o.units[1:3], o.severity, o.deadline <= tick, -count(*),
                -sum(ST_X(o.geom)), -sum(ST_Y(o.geom)), ST_SetSRID(ST_MakePoint(avg(ST_X(o.geom)), avg(ST_Y(o.geom))), 4326)
            FROM old_rows o GROUP BY 1, 2, 3, 4;
        END IF;
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_open_case_cell_count() FROM PUBLIC;
