CREATE OR REPLACE FUNCTION public.cityops_incident_flag_case()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public'
AS $function$
    -- open cases reported inside an active incident's current area since it opened are flagged to it (the
    -- commander links or dismisses each); a historic import's old or closed cases are not; once per statement, so a bulk import pays one join; definer's rights: the
    -- reporter need not see the incident
    BEGIN
        IF EXISTS (SELECT 1 FROM incident WHERE state = 'active') THEN
            INSERT INTO incident_case (incident_id, case_id, state, how)
            SELECT DISTINCT a.incident_id, c.id, 'flagged', 'reported_inside'
            FROM new_cases c JOIN incident_area a ON a.retired_at IS NULL AND ST_Intersects(a.geom, c.geom)
            JOIN incident i ON i.id = a.incident_id AND i.state = 'active'
            WHERE c.merged_into IS NULL AND c.state NOT IN ('closed', 'void') AND c.filed_at >= i.opened_at
            ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_incident_flag_case() FROM PUBLIC;

