CREATE OR REPLACE FUNCTION public.cityops_assignment_story()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    DECLARE
        prior record;
        actor text := coalesce(NEW.changed_by, NEW.assigned_by);
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.reoffer_of IS NOT NULL THEN
                SELECT a.id, a.case_id, a.force_id, a.release_reason INTO prior FROM assignment a
                WHERE a.id = NEW.reoffer_of;
                INSERT INTO assignment_event (assignment_id, case_id, force_id, step, actor, note,
                                              next_assignment_id, next_force_id)
                VALUES (prior.id, prior.case_id, prior.force_id, 'reoffered', NEW.assigned_by,
                        prior.release_reason, NEW.id, NEW.force_id);
            END IF;
            INSERT INTO assignment_event (assignment_id, case_id, force_id, step, actor, note)
            VALUES (NEW.id, NEW.case_id, NEW.force_id, 'offered', NEW.assigned_by,
                    CASE WHEN NEW.reoffer_of IS NULL THEN '' ELSE 're-offer of assignment ' || NEW.reoffer_of END);
            RETURN NULL;
        END IF;
        IF OLD.accepted_at IS NULL AND NEW.accepted_at IS NOT NULL THEN
            INSERT INTO assignment_event (assignment_id, case_id, force_id, step, actor)
            VALUES (NEW.id, NEW.case_id, NEW.force_id, 'accepted', actor),
                   (NEW.id, NEW.case_id, NEW.force_id, 'en_route', actor);
        END IF;
        IF OLD.arrived_at IS NULL AND NEW.arrived_at IS NOT NULL THEN
            INSERT INTO assignment_event (assignment_id, case_id, force_id, step, actor)
            VALUES (NEW.id, NEW.case_id, NEW.force_id, 'on_scene', actor);
        END IF;
        IF OLD.released_at IS NULL AND NEW.released_at IS NOT NULL THEN
            INSERT INTO assignment_event (assignment_id, case_id, force_id, step, actor, note)
            VALUES (NEW.id, NEW.case_id, NEW.force_id,
                    CASE NEW.release_reason WHEN 'accept_timeout' THEN 'timed_out' ELSE NEW.release_reason END,
                    actor, coalesce(NEW.release_note, ''));
        END IF;
        RETURN NULL;
    END $function$;
