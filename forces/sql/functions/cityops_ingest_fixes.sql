CREATE OR REPLACE FUNCTION public.cityops_ingest_fixes(codes text[], lons double precision[], lats double precision[], cells bigint[], times timestamp with time zone[], speeds real[], headings real[], accuracies real[])
 RETURNS TABLE(unknown text[], stored bigint, moved bigint)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
 SET enable_hashjoin TO 'off'
AS $function$
        WITH fix AS (
            SELECT n.*, f.id AS force_id, f.status, f.capabilities, f.units, f.unit_id, f.shift_start, f.shift_end
            FROM unnest(codes, lons, lats, cells, times, speeds, headings, accuracies)
                 AS n(code, lon, lat, cell, fixed_at, speed, heading, accuracy)
            LEFT JOIN force f ON f.code = n.code AND f.units @> ARRAY[cityops_scope_unit()]
                AND (cityops_scope_department() IS NULL OR f.department = cityops_scope_department())
        ), history AS (
            INSERT INTO force_fix (force_id, fixed_at, geom, cell, speed, heading, accuracy)
            SELECT force_id, fixed_at, ST_SetSRID(ST_MakePoint(lon, lat), 4326), cell, speed, heading, accuracy
            FROM fix WHERE force_id IS NOT NULL
            ON CONFLICT DO NOTHING
            RETURNING 1
        ), newest AS (
            SELECT DISTINCT ON (force_id) *
            FROM fix WHERE force_id IS NOT NULL ORDER BY force_id, fixed_at DESC
        ), moved AS (  -- an UPDATE: the upsert ran force_position's BEFORE INSERT trigger for every tracked force.
            -- Rows are locked in force order (newest's), by a nested loop or a merge join: a hash join locks them
            -- in scan order, which differs between snapshots once rows have moved, and two batches deadlocked
            UPDATE force_position AS p
            SET geom = ST_SetSRID(ST_MakePoint(n.lon, n.lat), 4326), cell = n.cell, fixed_at = n.fixed_at,
                speed = n.speed, heading = n.heading, accuracy = n.accuracy, received_at = now()
            FROM newest n
            WHERE p.force_id = n.force_id AND p.fixed_at < n.fixed_at
            RETURNING p.force_id
        ), placed AS (  -- a force's first position (placed meanwhile by a concurrent batch: then an update)
            INSERT INTO force_position AS p (force_id, geom, cell, fixed_at, speed, heading, accuracy,
                                             status, capabilities, units, unit_id, shift_start, shift_end)
            SELECT force_id, ST_SetSRID(ST_MakePoint(lon, lat), 4326), cell, fixed_at,
                   speed, heading, accuracy, status, capabilities, units, unit_id, shift_start, shift_end
            FROM newest n WHERE NOT EXISTS (SELECT FROM force_position q WHERE q.force_id = n.force_id)
            ON CONFLICT (force_id) DO UPDATE
                SET geom = EXCLUDED.geom, cell = EXCLUDED.cell, fixed_at = EXCLUDED.fixed_at,
                    speed = EXCLUDED.speed, heading = EXCLUDED.heading, accuracy = EXCLUDED.accuracy,
                    received_at = now()
                WHERE p.fixed_at < EXCLUDED.fixed_at
            RETURNING p.force_id
        ), latest AS (
            SELECT force_id FROM moved UNION ALL SELECT force_id FROM placed
        ), announced AS (  -- NOTIFY payloads stay far below 8000 bytes: 400 ids a message
            SELECT pg_notify('cityops_positions', string_agg(force_id::text, ',')) FROM (
                SELECT force_id, (row_number() OVER ()) / 400 AS chunk FROM latest
            ) c GROUP BY chunk
        )
        SELECT ARRAY(SELECT DISTINCT code FROM fix WHERE force_id IS NULL ORDER BY code),
               (SELECT count(*) FROM history), (SELECT count(*) FROM latest) + 0 * (SELECT count(*) FROM announced)
    $function$;
