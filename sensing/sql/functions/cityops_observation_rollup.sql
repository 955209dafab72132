CREATE OR REPLACE FUNCTION public.cityops_observation_rollup(until timestamp with time zone)
 RETURNS TABLE(minutes integer, hours integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- the minute and hour rollups of every (device, minute) that received a reading since the last round,
    -- recomputed whole from the readings, so a late reading corrects its minute and hour instead of being
    -- lost; one round at a time (the watermark row is locked)
    DECLARE
        since timestamptz;
    BEGIN
        SELECT done_until INTO since FROM sensing_rollup WHERE name = 'minute' FOR UPDATE;
        IF until <= since THEN
            minutes := 0; hours := 0; RETURN NEXT; RETURN;
        END IF;
        CREATE TEMP TABLE touched ON COMMIT DROP AS
        SELECT DISTINCT sensor_id, date_trunc('minute', observed_at) AS minute
        FROM observation WHERE received_at > since AND received_at <= until;
        INSERT INTO observation_minute (sensor_id, minute, n, low, high, total)
        SELECT t.sensor_id, t.minute, count(*), min(o.value), max(o.value), sum(o.value)
        FROM touched t JOIN observation o
          ON o.sensor_id = t.sensor_id AND o.observed_at >= t.minute AND o.observed_at < t.minute + interval '1 minute'
        GROUP BY t.sensor_id, t.minute
        ON CONFLICT (sensor_id, minute) DO UPDATE
        SET n = excluded.n, low = excluded.low, high = excluded.high, total = excluded.total;
        GET DIAGNOSTICS minutes = ROW_COUNT;
        INSERT INTO observation_hour (sensor_id, hour, n, low, high, total)
        SELECT m.sensor_id, h.hour, sum(m.n), min(m.low), max(m.high), sum(m.total)
        FROM (SELECT DISTINCT sensor_id, date_trunc('hour', minute) AS hour FROM touched) h
        JOIN observation_minute m
          ON m.sensor_id = h.sensor_id AND m.minute >= h.hour AND m.minute < h.hour + interval '1 hour'
        GROUP BY m.sensor_id, h.hour
        ON CONFLICT (sensor_id, hour) DO UPDATE
        SET n = excluded.n, low = excluded.low, high = excluded.high, total = excluded.total;
        GET DIAGNOSTICS hours = ROW_COUNT;
        UPDATE sensing_rollup SET done_until = until WHERE name IN ('minute', 'hour');
        RETURN NEXT;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_observation_rollup(timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_observation_rollup(timestamp with time zone) TO cityops_api;
