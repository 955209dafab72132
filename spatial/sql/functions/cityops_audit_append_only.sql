CREATE OR REPLACE FUNCTION public.cityops_audit_append_only()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL
           AND (NEW.id, NEW.at, NEW.actor, NEW.action, NEW.subject, NEW.detail)
               IS NOT DISTINCT FROM (OLD.id, OLD.at, OLD.actor, OLD.action, OLD.subject, OLD.detail) THEN
            RETURN NEW;  -- sealing: the chain columns of an unsealed entry, nothing else
        END IF;
        RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
    END $function$;
