CREATE OR REPLACE FUNCTION public.cityops_open_case_tick()
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- Moves the open cases that fell due since the last tick to open_case_cell's overdue side (-1 under their key
    -- not overdue, +1 overdue) and sets the tick to now; returns how many cases moved. A reader then adds only
    -- the cases due between the tick and its own now from open_case. The exclusive lock waits for the writers in
    -- flight (each holds it shared to its commit, cityops_open_case_tick_at), so every case this tick cannot see
    -- is flagged against the new tick; it gives up after a moment rather than hold writers behind a long one.
    DECLARE
        was timestamptz;
        upto timestamptz;
        moved bigint;
    BEGIN
        PERFORM set_config('lock_timeout', '50ms', true);  -- writers queue behind a waiting tick
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('cityops_open_case_tick'));
        EXCEPTION WHEN lock_not_available THEN
            RETURN 0;
        END;
        SELECT t.at INTO was FROM open_case_tick t;
        upto := greatest(clock_timestamp(), was);
        INSERT INTO open_case_cell (cell, area, severity, overdue, cases, lon_sum, lat_sum, anchor)
        SELECT d.cell, d.area, d.severity, s.overdue, s.sign * d.cases, s.sign * d.lon_sum, s.sign * d.lat_sum,
            ST_SetSRID(ST_MakePoint(d.lon_sum / d.cases, d.lat_sum / d.cases), 4326)
        FROM (
            SELECT cityops_h3_parent(o.cell, 7) AS cell, o.units[1:3] AS area, o.severity, count(*) AS cases,
                sum(ST_X(o.geom)) AS lon_sum, sum(ST_Y(o.geom)) AS lat_sum
            FROM open_case o WHERE o.deadline > was AND o.deadline <= upto GROUP BY 1, 2, 3
        ) d, (VALUES (false, -1), (true, 1)) AS s(overdue, sign);
        GET DIAGNOSTICS moved = ROW_COUNT;
        UPDATE open_case_tick SET at = upto;
        RETURN moved / 2;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_open_case_tick() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_open_case_tick() TO cityops_api;
