CREATE OR REPLACE FUNCTION public.cityops_change_from_assignment()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
AS $function$
    BEGIN
        INSERT INTO change_event (type, subject, case_id, units, departments, data)
        SELECT 'assignment.changed', 'assignment/' || NEW.id, e.id, e.units, e.departments,
               jsonb_build_object(
                   'assignment_id', NEW.id, 'case_id', e.id, 'force', f.code, 'force_name', f.name,
                   'state', CASE WHEN NEW.released_at IS NOT NULL THEN 'released'
                                 WHEN NEW.arrived_at IS NOT NULL THEN 'arrived'
                                 WHEN NEW.accepted_at IS NOT NULL THEN 'accepted' ELSE 'offered' END,
                   'release_reason', NEW.release_reason, 'accept_by', NEW.accept_by, 'at', now())
        FROM case_file e JOIN force f ON f.id = NEW.force_id
        WHERE e.id = NEW.case_id;
        RETURN NULL;
    END $function$;
