CREATE OR REPLACE FUNCTION public.cityops_force_assignments(force bigint, recent interval)
 RETURNS TABLE(id bigint, case_id bigint, assigned_by text, assigned_at timestamp with time zone, accept_by timestamp with time zone, accepted_at timestamp with time zone, arrived_at timestamp with time zone, released_at timestamp with time zone, release_reason text, release_note text, capabilities text[], category text, category_name text, category_name_en text, severity text, state text, description text, address text, lon double precision, lat double precision, reported_at timestamp with time zone, reporter jsonb, reoffered_to_code text, reoffered_to_name text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        SELECT a.id, e.id, a.assigned_by, a.assigned_at, a.accept_by, a.accepted_at, a.arrived_at, a.released_at,
               a.release_reason, a.release_note, a.capabilities, e.category_code, c.name, c.name_en,
               e.severity::text, e.state, e.description, e.address, ST_X(e.geom), ST_Y(e.geom), e.created_at,
               (SELECT r.reporter FROM report r WHERE r.case_id = e.id ORDER BY r.id LIMIT 1), n.code, n.name
        FROM assignment a JOIN case_file e ON e.id = a.case_id JOIN category c ON c.code = e.category_code
        LEFT JOIN assignment x ON x.reoffer_of = a.id LEFT JOIN force n ON n.id = x.force_id
        WHERE a.force_id = force AND (a.released_at IS NULL OR a.released_at > now() - recent)
          AND EXISTS (SELECT FROM force f WHERE f.id = force AND f.units @> ARRAY[cityops_scope_unit()]
                      AND (cityops_scope_department() IS NULL OR f.department = cityops_scope_department()))
        ORDER BY a.released_at IS NOT NULL, a.id DESC
        LIMIT 50
    $function$;
REVOKE ALL ON FUNCTION public.cityops_force_assignments(bigint,interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_force_assignments(bigint,interval) TO cityops_api;
