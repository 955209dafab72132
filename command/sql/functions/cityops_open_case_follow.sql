CREATE OR REPLACE FUNCTION public.cityops_open_case_follow()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- A case that moved, closed or reopened, or whose place, severity, deadline or scope changed: its row in
    -- open_case follows in the same transaction (gone once closed or voided, back when reopened)
    BEGIN
        IF NEW.state IN ('closed', 'void') THEN
            DELETE FROM open_case WHERE case_id = NEW.id;
        ELSE
            INSERT INTO open_case (case_id, geom, cell, state, severity, category_code, source, filed_at, deadline,
                                   units, departments)
            VALUES (NEW.id, NEW.geom, NEW.cell, NEW.state, NEW.severity, NEW.category_code, NEW.source, NEW.filed_at,
                    NEW.deadline, NEW.units, NEW.departments)
            ON CONFLICT (case_id) DO UPDATE
                SET geom = EXCLUDED.geom, cell = EXCLUDED.cell, state = EXCLUDED.state, severity = EXCLUDED.severity,
                    category_code = EXCLUDED.category_code, source = EXCLUDED.source, filed_at = EXCLUDED.filed_at,
                    deadline = EXCLUDED.deadline, units = EXCLUDED.units, departments = EXCLUDED.departments;
        END IF;
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_open_case_follow() FROM PUBLIC;
