CREATE OR REPLACE FUNCTION public.cityops_incident_unified_dispatch()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public'
AS $function$
    -- 统一调度: a force committed to an active incident goes to a case only by a user of the incident's
    -- commanding chain (its commanding unit or above); whoever else books it, by whatever path (dispatch,
    -- a borrowed force committed), is refused naming the incident. The sweeper's re-offer (system:
    -- actors) passes: it never picks a held force (cityops_reoffer), and refusing would abort its round
    DECLARE
        held record;
    BEGIN
        SELECT * INTO held FROM cityops_incident_holding(ARRAY[NEW.force_id]);
        IF FOUND AND NEW.assigned_by NOT LIKE 'system:%' AND NOT EXISTS (
            SELECT FROM app_user a
            WHERE a.username = NEW.assigned_by AND a.department IS NULL AND a.unit_id = ANY(held.chain)
        ) THEN
            RAISE EXCEPTION 'force % is committed to incident % (%): its commander decides',
                held.force_code, held.code, held.title
                USING ERRCODE = 'object_in_use', HINT = 'ask the incident''s command to assign or release it';
        END IF;
        RETURN NEW;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_incident_unified_dispatch() FROM PUBLIC;
