CREATE OR REPLACE FUNCTION public.cityops_ingest_readings(codes text[], ats double precision[], vals double precision[], units text[], received timestamp with time zone, ahead interval, keep interval, scope bigint)
 RETURNS TABLE(refused_at integer[], refused_why text[], stored integer, duplicates integer, late integer, raised bigint[], cleared bigint[], turned bigint[])
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
 SET client_min_messages TO 'warning'
AS $function$
    -- One batch of readings, in one transaction: each reading judged (unknown, outside the sender's `scope`
    -- (a unit; NULL: the broker's, whose access list is the control) or retired device, not a
    -- number, stamped in the future or before retention, a unit other than the kind's, outside the kind's
    -- physical range: a fault of the device, never an alarm), stored once per device and time, and the
    -- newest of each device moved into its status only when newer than what is there (late readings are
    -- kept, state never goes backwards). Then every threshold and rate rule of the devices heard (a
    -- device's override replaces its kind's rule) is evaluated on the batch: a breach by the batch's
    -- extreme raises (or re-raises a cleared alarm, a flap), the newest reading back past the band clears;
    -- a rule with a duration raises once its breach has lasted that long. Devices under maintenance store
    -- readings and raise nothing. Answers the refusals by position, the counts, the alarms raised and
    -- cleared, and the devices whose threshold alarm turned (their neighbourhoods' area rules are the caller's).
    DECLARE
        valid integer;  -- readings that passed judgement
        fresh integer;  -- of those, newer than their device's status
    BEGIN
        IF to_regclass('pg_temp.reading_batch') IS NULL THEN
            CREATE TEMP TABLE reading_batch (
                i integer, sensor_id bigint, kind text, active boolean, observed_at timestamptz, value float8, why text
            ) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE reading_latest (
                sensor_id bigint PRIMARY KEY, kind text, active boolean, observed_at timestamptz, value float8,
                high float8, low float8, n integer, previous_at timestamptz, previous_value float8
            ) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE rule_verdict (
                rule_id integer, sensor_id bigint, breach boolean, calm boolean, value float8, observed_at timestamptz
            ) ON COMMIT DELETE ROWS;
        ELSE
            DELETE FROM reading_batch;  -- (empty but for a second batch in one transaction: cheaper than TRUNCATE)
            DELETE FROM reading_latest;
            DELETE FROM rule_verdict;
        END IF;

        -- planned for this batch (EXECUTE): a plan made for any batch does not know how few devices it names and
        -- probes the registry once a reading (ten times slower)
        EXECUTE $judge$
        INSERT INTO reading_batch
        SELECT r.i, s.id, s.kind, s.state = 'active', r.at, r.v,
               CASE WHEN s.id IS NULL THEN 'unknown_device'
                    WHEN s.state = 'retired' THEN 'retired'
                    WHEN r.at IS NULL THEN 'no_time'
                    WHEN r.v IS NULL OR r.v = 'NaN'::float8 OR r.v IN ('Infinity'::float8, '-Infinity'::float8) THEN 'not_a_number'
                    WHEN r.at > $5 + $6 THEN 'future'
                    WHEN r.at < $5 - $7 THEN 'too_old'
                    WHEN r.u IS NOT NULL AND k.senml_unit IS NOT NULL AND r.u <> k.senml_unit THEN 'wrong_unit'
                    WHEN r.v < k.physical_min OR r.v > k.physical_max THEN 'out_of_range' END
        FROM (SELECT x.code, to_timestamp(x.at) AS at, x.v, x.u, x.i  -- (the times come as seconds since 1970)
              FROM unnest($1, $2, $3, $4) WITH ORDINALITY AS x(code, at, v, u, i)) r
        LEFT JOIN (  -- the batch's devices only, each looked up once (a batch names hundreds of 20,000)
            SELECT s.id, s.code, s.kind, s.state FROM sensor s
            WHERE s.code = ANY($1) AND ($8 IS NULL OR s.units @> ARRAY[$8])
        ) s ON s.code = r.code
        LEFT JOIN sensor_kind k ON k.code = s.kind
        $judge$ USING codes, ats, vals, units, received, ahead, keep, scope;

        SELECT coalesce(array_agg(b.i ORDER BY b.i) FILTER (WHERE b.why IS NOT NULL), '{}'),
               coalesce(array_agg(b.why ORDER BY b.i) FILTER (WHERE b.why IS NOT NULL), '{}'),
               count(*) FILTER (WHERE b.why IS NULL)
        INTO refused_at, refused_why, valid FROM reading_batch b;

        -- a device that sent a physically impossible value is faulty until it sends a possible one
        IF 'out_of_range' = ANY(refused_why) THEN
            UPDATE sensor_status st SET condition = 'fault', fault_at = f.at, fault_value = f.v
            FROM (SELECT DISTINCT ON (b.sensor_id) b.sensor_id, b.observed_at AS at, b.value AS v
                  FROM reading_batch b WHERE b.why = 'out_of_range' ORDER BY b.sensor_id, b.observed_at DESC) f
            WHERE st.sensor_id = f.sensor_id AND (st.observed_at IS NULL OR f.at > st.observed_at);
        END IF;

        -- what moves each device's status: its readings newer than the status, summed up to the newest (the
        -- batch's statuses looked up once each, not once a reading). One sort serves the sums and the newest:
        -- ordered aggregates sorted each device's readings apart, thousands of small sorts a batch
        INSERT INTO reading_latest (sensor_id, kind, active, observed_at, value, high, low, n, previous_at, previous_value)
        SELECT DISTINCT ON (f.sensor_id) f.sensor_id, f.kind, f.active, f.observed_at, f.value, f.high, f.low, f.n,
               f.previous_at, f.previous_value
        FROM (
            SELECT b.sensor_id, b.kind, b.active, b.observed_at, b.value, b.i,
                   max(b.value) OVER device AS high, min(b.value) OVER device AS low,
                   dense_rank() OVER (PARTITION BY b.sensor_id ORDER BY b.observed_at) AS n,  -- (one sent twice is one)
                   st.observed_at AS previous_at, st.value AS previous_value
            FROM reading_batch b JOIN (
                SELECT st.sensor_id, st.observed_at, st.value FROM sensor_status st
                WHERE st.sensor_id = ANY(ARRAY(SELECT DISTINCT sensor_id FROM reading_batch WHERE why IS NULL))
            ) st ON st.sensor_id = b.sensor_id
            WHERE b.why IS NULL AND (st.observed_at IS NULL OR b.observed_at > st.observed_at)
            WINDOW device AS (PARTITION BY b.sensor_id)
        ) f
        ORDER BY f.sensor_id, f.observed_at DESC, f.i DESC;
        SELECT coalesce(sum(l.n), 0) INTO fresh FROM reading_latest l;

        -- stored once per device and time. A reading newer than its device's status was never stored (the status
        -- holds the newest stored), so those go in as they are; the late rest only where not there yet. Should
        -- a concurrent batch have stored one of the newer ones meanwhile (or the batch hold one twice), the
        -- key says so and all go the careful way
        BEGIN
            INSERT INTO observation (sensor_id, observed_at, value, received_at)
            SELECT b.sensor_id, b.observed_at, b.value, received
            FROM reading_batch b JOIN reading_latest l ON l.sensor_id = b.sensor_id
            WHERE b.why IS NULL AND (l.previous_at IS NULL OR b.observed_at > l.previous_at);
            GET DIAGNOSTICS stored = ROW_COUNT;
            late := 0;
            IF fresh < valid THEN
                INSERT INTO observation (sensor_id, observed_at, value, received_at)
                SELECT DISTINCT ON (b.sensor_id, b.observed_at) b.sensor_id, b.observed_at, b.value, received
                FROM reading_batch b LEFT JOIN reading_latest l ON l.sensor_id = b.sensor_id
                WHERE b.why IS NULL AND (l.sensor_id IS NULL OR b.observed_at <= l.previous_at)
                ORDER BY b.sensor_id, b.observed_at, b.i DESC
                ON CONFLICT DO NOTHING;
                GET DIAGNOSTICS late = ROW_COUNT;
                stored := stored + late;
            END IF;
        EXCEPTION WHEN unique_violation THEN
            INSERT INTO observation (sensor_id, observed_at, value, received_at)
            SELECT DISTINCT ON (b.sensor_id, b.observed_at) b.sensor_id, b.observed_at, b.value, received
            FROM reading_batch b WHERE b.why IS NULL
            ORDER BY b.sensor_id, b.observed_at, b.i DESC
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS stored = ROW_COUNT;
            late := greatest(stored - fresh, 0);
        END;
        duplicates := valid - stored;

        UPDATE sensor_status st
        SET previous_at = st.observed_at, previous_value = st.value, observed_at = l.observed_at, value = l.value,
            condition = CASE WHEN st.fault_at > l.observed_at THEN 'fault'::sensor_condition ELSE 'normal' END,
            readings = st.readings + l.n
        FROM reading_latest l
        WHERE st.sensor_id = l.sensor_id AND st.sensor_id = ANY(ARRAY(SELECT l.sensor_id FROM reading_latest l))
          AND (st.observed_at IS NULL OR l.observed_at > st.observed_at);  -- (a concurrent batch may have moved it on)

        -- each device's rules: its own override, else its kind's; a disabled override silences the kind's rule
        INSERT INTO rule_verdict
        SELECT r.id, l.sensor_id,
               CASE WHEN r.rule = 'rate' THEN rate >= r.raise_at
                    WHEN r.for_seconds > 0 THEN (r.raise_at > r.clear_at AND l.value >= r.raise_at)
                                             OR (r.raise_at < r.clear_at AND l.value <= r.raise_at)
                    ELSE (r.raise_at > r.clear_at AND l.high >= r.raise_at) OR (r.raise_at < r.clear_at AND l.low <= r.raise_at) END,
               CASE WHEN r.rule = 'rate' THEN coalesce(rate <= r.clear_at, false)
                    ELSE (r.raise_at > r.clear_at AND l.value <= r.clear_at) OR (r.raise_at < r.clear_at AND l.value >= r.clear_at) END,
               CASE WHEN r.rule = 'rate' THEN rate WHEN r.raise_at > r.clear_at THEN l.high ELSE l.low END,
               l.observed_at
        FROM reading_latest l
        CROSS JOIN LATERAL (
            SELECT (l.value - l.previous_value) / nullif(extract(epoch FROM l.observed_at - l.previous_at) / 60, 0) AS rate
        ) change
        JOIN (  -- the kinds' rules where no device overrides them (a hash join: no probe per reading) …
            SELECT x.*, NULL::bigint AS only FROM sensor_rule x WHERE x.sensor_id IS NULL AND x.rule IN ('threshold', 'rate')
            UNION ALL  -- … and the devices' own
            SELECT x.*, x.sensor_id FROM sensor_rule x WHERE x.sensor_id IS NOT NULL AND x.rule IN ('threshold', 'rate')
        ) r ON r.kind = l.kind AND (r.only IS NULL OR r.only = l.sensor_id) AND r.enabled
        WHERE l.active AND (r.only IS NOT NULL OR NOT EXISTS (
            SELECT 1 FROM sensor_rule o WHERE o.sensor_id = l.sensor_id AND o.kind = r.kind AND o.rule = r.rule));

        -- a duration: the breach is pending from the first reading in breach, and raises once it has lasted
        DELETE FROM sensor_rule_pending p USING rule_verdict v
        WHERE p.rule_id = v.rule_id AND p.sensor_id = v.sensor_id AND NOT v.breach;
        INSERT INTO sensor_rule_pending (rule_id, sensor_id, since)
        SELECT v.rule_id, v.sensor_id, v.observed_at FROM rule_verdict v JOIN sensor_rule r ON r.id = v.rule_id
        WHERE v.breach AND r.for_seconds > 0
        ON CONFLICT DO NOTHING;
        UPDATE rule_verdict v SET breach = v.observed_at - p.since >= make_interval(secs => r.for_seconds)
        FROM sensor_rule r, sensor_rule_pending p
        WHERE r.id = v.rule_id AND r.for_seconds > 0 AND p.rule_id = v.rule_id AND p.sensor_id = v.sensor_id AND v.breach;

        WITH up AS (
            INSERT INTO sensor_alarm AS a (rule_id, sensor_id, kind, geom, units, value, peak, raised_at, files_case)
            SELECT v.rule_id, v.sensor_id, s.kind, s.geom, s.units, v.value, v.value, v.observed_at, k.category_code IS NOT NULL
            FROM rule_verdict v JOIN sensor s ON s.id = v.sensor_id JOIN sensor_kind k ON k.code = s.kind
            WHERE v.breach
            ON CONFLICT (rule_id, sensor_id) WHERE state <> 'closed' AND sensor_id IS NOT NULL
            DO UPDATE SET state = 'raised', flaps = a.flaps + 1, cleared_at = NULL, value = excluded.value,
                          peak = excluded.peak, version = a.version + 1
            WHERE a.state = 'cleared'
            RETURNING a.id
        )
        SELECT array_agg(id) INTO raised FROM up;

        -- an open alarm keeps its worst value; a rule back past its band clears; a device heard is not silent
        UPDATE sensor_alarm a SET peak = CASE WHEN r.raise_at > r.clear_at THEN greatest(a.peak, v.value) ELSE least(a.peak, v.value) END
        FROM rule_verdict v JOIN sensor_rule r ON r.id = v.rule_id
        WHERE a.rule_id = v.rule_id AND a.sensor_id = v.sensor_id AND a.state IN ('raised', 'acknowledged') AND v.breach
          AND a.peak IS DISTINCT FROM CASE WHEN r.raise_at > r.clear_at THEN greatest(a.peak, v.value) ELSE least(a.peak, v.value) END;
        WITH calmed AS (
            UPDATE sensor_alarm a SET state = 'cleared', cleared_at = v.observed_at, version = a.version + 1
            FROM rule_verdict v
            WHERE a.rule_id = v.rule_id AND a.sensor_id = v.sensor_id AND a.state IN ('raised', 'acknowledged') AND v.calm
            RETURNING a.id
        ), heard AS (
            UPDATE sensor_alarm a SET state = 'cleared', cleared_at = l.observed_at, version = a.version + 1
            FROM reading_latest l, sensor_rule r
            WHERE a.sensor_id = l.sensor_id AND r.id = a.rule_id AND r.rule = 'silence' AND a.state IN ('raised', 'acknowledged')
            RETURNING a.id
        )
        SELECT array_agg(id) INTO cleared FROM (SELECT id FROM calmed UNION ALL SELECT id FROM heard) c;

        UPDATE sensor_status st SET condition = 'alarm'
        FROM reading_latest l
        WHERE st.sensor_id = l.sensor_id AND st.condition = 'normal' AND EXISTS (
            SELECT 1 FROM sensor_alarm a WHERE a.sensor_id = l.sensor_id AND a.state IN ('raised', 'acknowledged'));

        raised := coalesce(raised, '{}');
        cleared := coalesce(cleared, '{}');
        turned := ARRAY(SELECT DISTINCT a.sensor_id FROM sensor_alarm a JOIN sensor_rule r ON r.id = a.rule_id
                        WHERE a.id = ANY(raised || cleared) AND r.rule = 'threshold');
        RETURN NEXT;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_ingest_readings(text[],double precision[],double precision[],text[],timestamp with time zone,interval,interval,bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_ingest_readings(text[],double precision[],double precision[],text[],timestamp with time zone,interval,interval,bigint) TO cityops_api;
