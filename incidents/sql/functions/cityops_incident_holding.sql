CREATE OR REPLACE FUNCTION public.cityops_incident_holding(force_ids bigint[])
 RETURNS TABLE(force_id bigint, force_code text, incident_id bigint, code text, title text, chain bigint[])
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public'
AS $function$
    -- the active incidents holding these forces (unified dispatch), with the chain that commands each;
    -- definer's rights: a street's connection must learn that a force is held even where row-level
    -- security hides the incident from it, or it could not be told why it may not assign the force
    SELECT h.force_id, f.code, i.id, i.code, i.title, u.ancestors || u.id
    FROM incident_force h JOIN incident i ON i.id = h.incident_id AND i.state = 'active'
    JOIN unit u ON u.id = i.commanding_unit_id JOIN force f ON f.id = h.force_id
    WHERE h.force_id = ANY(force_ids) AND h.released_at IS NULL
$function$;
REVOKE ALL ON FUNCTION public.cityops_incident_holding(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_incident_holding(bigint[]) TO cityops_api;
