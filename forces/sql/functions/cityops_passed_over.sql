CREATE OR REPLACE FUNCTION public.cityops_passed_over(at geometry, within_m double precision, chosen bigint[], caps text[], fresh_since timestamp with time zone, local_time time without time zone, lim integer)
 RETURNS TABLE(force_id bigint, distance_m double precision, reason text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
 SET enable_seqscan TO 'off'
 SET enable_sort TO 'off'
AS $function$
        SELECT p.force_id, ST_Distance(p.geom::geography, at::geography) AS d,
               CASE WHEN p.status <> 'available' THEN p.status::text
                    WHEN NOT p.fixed_post AND p.fixed_at < fresh_since THEN 'stale_position'
                    WHEN NOT cityops_on_shift(p.shift_start, p.shift_end, local_time) THEN 'off_shift'
                    WHEN NOT p.capabilities @> caps THEN 'lacks_capability'
                    ELSE 'less_preferred_unit' END
        FROM (  -- the planar-nearest few: an explanation, so exact distances for a handful only
            SELECT * FROM force_position p WHERE NOT p.force_id = ANY(chosen)
            ORDER BY p.geom <-> at LIMIT lim * 2
        ) p
        WHERE ST_DWithin(p.geom::geography, at::geography, within_m)
        ORDER BY d, p.force_id LIMIT lim
    $function$;
