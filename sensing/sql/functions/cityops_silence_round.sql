CREATE OR REPLACE FUNCTION public.cityops_silence_round(at timestamp with time zone)
 RETURNS TABLE(alarm_id bigint)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- an active device not heard for its silence rule's minutes (or never, that long after installation)
    -- is offline: one alarm per device, cleared by its next reading (cityops_ingest_readings)
    WITH silent AS (
        SELECT r.id AS rule_id, s.id AS sensor_id, s.kind, s.geom, s.units, coalesce(st.observed_at, s.installed_at) AS heard
        FROM sensor s
        JOIN sensor_status st ON st.sensor_id = s.id
        JOIN LATERAL (
            SELECT x.* FROM sensor_rule x
            WHERE x.kind = s.kind AND x.rule = 'silence' AND (x.sensor_id IS NULL OR x.sensor_id = s.id)
            ORDER BY x.sensor_id NULLS LAST LIMIT 1
        ) r ON r.enabled
        WHERE s.state = 'active' AND coalesce(st.observed_at, s.installed_at) < at - make_interval(mins => r.silent_minutes)
    ), offline AS (
        UPDATE sensor_status st SET condition = 'offline'
        FROM silent WHERE st.sensor_id = silent.sensor_id AND st.condition <> 'offline'
    )
    INSERT INTO sensor_alarm (rule_id, sensor_id, kind, geom, units, raised_at)
    SELECT rule_id, sensor_id, kind, geom, units, at FROM silent
    ON CONFLICT (rule_id, sensor_id) WHERE state <> 'closed' AND sensor_id IS NOT NULL DO NOTHING
    RETURNING id
$function$;
REVOKE ALL ON FUNCTION public.cityops_silence_round(timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_silence_round(timestamp with time zone) TO cityops_api;
