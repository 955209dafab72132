CREATE OR REPLACE FUNCTION public.cityops_case_cell_day_follow()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- A case voided or restored, moved to another cell, re-categorised, re-sourced, re-timed or re-scoped:
    -- -1 under its old key, +1 under its new one (a voided case counts under neither), in the same transaction
    BEGIN
        INSERT INTO case_cell_day (day, cell, area, category_code, source, cases)
        SELECT (c.filed_at AT TIME ZONE cityops_rollup_zone())::date, cityops_h3_parent(c.cell, 8), c.units[1:3],
            c.category_code, c.source, c.cases
        FROM (VALUES (OLD.filed_at, OLD.cell, OLD.units, OLD.category_code, OLD.source, OLD.state, -1),
                     (NEW.filed_at, NEW.cell, NEW.units, NEW.category_code, NEW.source, NEW.state, 1))
            AS c(filed_at, cell, units, category_code, source, state, cases)
        WHERE c.state <> 'void';
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_case_cell_day_follow() FROM PUBLIC;
