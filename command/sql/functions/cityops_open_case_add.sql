CREATE OR REPLACE FUNCTION public.cityops_open_case_add()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- A statement's new open cases join open_case (statement level: a historic import's million rows
    -- are one INSERT … SELECT, not a million trigger calls)
    BEGIN
        INSERT INTO open_case (case_id, geom, cell, state, severity, category_code, source, filed_at, deadline,
                               units, departments)
        SELECT id, geom, cell, state, severity, category_code, source, filed_at, deadline, units, departments
        FROM new_rows WHERE state NOT IN ('closed', 'void');
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_open_case_add() FROM PUBLIC;
