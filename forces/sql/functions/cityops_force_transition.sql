CREATE OR REPLACE FUNCTION public.cityops_force_transition()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    DECLARE
        allowed text;
    BEGIN
        IF NEW.status IS DISTINCT FROM OLD.status THEN
            IF NOT EXISTS (SELECT FROM force_transition t
                           WHERE t.from_status = OLD.status AND t.to_status = NEW.status) THEN
                SELECT string_agg(t.to_status::text, ', ' ORDER BY t.to_status) INTO allowed
                FROM force_transition t WHERE t.from_status = OLD.status;
                RAISE EXCEPTION 'force % cannot go from % to %', OLD.code, OLD.status, NEW.status
                    USING ERRCODE = 'check_violation', DETAIL = 'allowed from ' || OLD.status || ': ' || allowed;
            END IF;
            NEW.status_at := now();
        END IF;
        RETURN NEW;
    END $function$;
