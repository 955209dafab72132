CREATE OR REPLACE FUNCTION public.cityops_open_case_cell_follow()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- An open case moved, re-scoped, re-graded or given another deadline: -1 under its old key, +1 under its new
    -- one, its point taken from the old key's sums and added to the new one's, in the same transaction
    DECLARE
        tick timestamptz := cityops_open_case_tick_at();
    BEGIN
        INSERT INTO open_case_cell (cell, area, severity, overdue, cases, lon_sum, lat_sum, anchor)
        SELECT cityops_h3_parent(c.cell, 7), c.units[1:3], c.severity, c.deadline <= tick, c.cases,
            c.cases * ST_X(c.geom), c.cases * ST_Y(c.geom), c.geom
        FROM (VALUES (OLD.cell, OLD.units, OLD.severity, OLD.deadline, OLD.geom, -1),
                     (NEW.cell, NEW.units, NEW.severity, NEW.deadline, NEW.geom, 1))
            AS c(cell, units, severity, deadline, geom, cases);
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_open_case_cell_follow() FROM PUBLIC;
