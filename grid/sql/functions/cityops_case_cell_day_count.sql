CREATE OR REPLACE FUNCTION public.cityops_case_cell_day_count()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- A statement's filed (INSERT) or deleted (DELETE) cases counted into case_cell_day, +1 or -1 per case not
    -- voided, one row per key. Statement level: a historic import's million rows are one INSERT … SELECT. The
    -- rows are appended, never updated: two writers never wait for one row (cityops_case_cell_day_fold merges).
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO case_cell_day (day, cell, area, category_code, source, cases)
            SELECT (filed_at AT TIME ZONE cityops_rollup_zone())::date, cityops_h3_parent(cell, 8), units[1:3],
                category_code, source, count(*)
            FROM new_rows WHERE state <> 'void' GROUP BY 1, 2, 3, 4, 5;
        ELSE
            INSERT INTO case_cell_day (day, cell, area, category_code, source, cases)
            SELECT (filed_at AT TIME ZONE cityops_rollup_zone())::date, cityops_h3_parent(cell, 8), units[1:3],
                category_code, source, -count(*)
            FROM old_rows WHERE state <> 'void' GROUP BY 1, 2, 3, 4, 5;
        END IF;
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_case_cell_day_count() FROM PUBLIC;
