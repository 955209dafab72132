CREATE OR REPLACE FUNCTION public.cityops_release_assignment(assignment bigint, reason text, note text, actor text)
 RETURNS TABLE(case_id bigint, force_id bigint)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    BEGIN
        UPDATE assignment a SET released_at = now(), release_reason = reason, release_note = nullif(note, ''),
                                changed_by = actor
        WHERE a.id = assignment AND a.released_at IS NULL
        RETURNING a.case_id, a.force_id INTO case_id, force_id;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        PERFORM cityops_force_freed(force_id);
        UPDATE force_request r SET state = 'released', released_at = now()
        WHERE r.assignment_id = assignment AND r.state = 'committed';
        RETURN NEXT;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_release_assignment(bigint,text,text,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_release_assignment(bigint,text,text,text) TO cityops_api;
