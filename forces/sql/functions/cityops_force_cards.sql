CREATE OR REPLACE FUNCTION public.cityops_force_cards(ids bigint[])
 RETURNS TABLE(id bigint, code text, name text, kind force_kind, unit_code text, unit_name text, department text, capabilities text[], status force_status, lon double precision, lat double precision, fixed_at timestamp with time zone, speed_kmh real, detour real, units bigint[])
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        SELECT f.id, f.code, f.name, f.kind, u.code, u.name, f.department, f.capabilities, f.status,
               ST_X(p.geom), ST_Y(p.geom), p.fixed_at, s.speed_kmh, s.detour, f.units
        FROM force f JOIN unit u ON u.id = f.unit_id LEFT JOIN force_position p ON p.force_id = f.id
        JOIN force_kind_speed s ON s.kind = f.kind
        WHERE f.id = ANY(ids)
    $function$;
