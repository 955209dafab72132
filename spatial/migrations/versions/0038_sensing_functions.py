"""sensing: ingest, rollups, partitions, silence and the registry's trigger, declared

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-04

The functions of ``sensing/sql/``: a batch of readings judged, stored and its rules evaluated in one
call (``cityops_ingest_readings``); the readings' daily partitions and retention; the minute and hour
rollups recomputed for what arrived (late readings included); the silence round that marks devices
offline; and the registry's trigger (a new device gets its status, a retired or moved one closes its alarms).
"""

# ruff: noqa: E501  (the statements are the text PostgreSQL prints, lines as long as it writes them)

from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (spatial column types in the operations below)
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_ingest_readings(codes text[], ats timestamp with time zone[], vals double precision[], units text[], received timestamp with time zone, ahead interval, keep interval, scope bigint)\n"
        " RETURNS TABLE(refused_at integer[], refused_why text[], stored integer, duplicates integer, late integer, raised bigint[], cleared bigint[], turned bigint[])\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        " SET client_min_messages TO 'warning'\n"
        "AS $function$\n"
        "    -- One batch of readings, in one transaction: each reading judged (unknown, outside the sender's `scope`\n"
        "    -- (a unit; NULL: the broker's, whose access list is the control) or retired device, not a\n"
        "    -- number, stamped in the future or before retention, a unit other than the kind's, outside the kind's\n"
        "    -- physical range: a fault of the device, never an alarm), stored once per device and time, and the\n"
        "    -- newest of each device moved into its status only when newer than what is there (late readings are\n"
        "    -- kept, state never goes backwards). Then every threshold and rate rule of the devices heard (a\n"
        "    -- device's override replaces its kind's rule) is evaluated on the batch: a breach by the batch's\n"
        "    -- extreme raises (or re-raises a cleared alarm, a flap), the newest reading back past the band clears;\n"
        "    -- a rule with a duration raises once its breach has lasted that long. Devices under maintenance store\n"
        "    -- readings and raise nothing. Answers the refusals by position, the counts, the alarms raised and\n"
        "    -- cleared, and the devices whose threshold alarm turned (their neighbourhoods' area rules are the caller's).\n"
        "    BEGIN\n"
        "        IF to_regclass('pg_temp.reading_batch') IS NULL THEN\n"
        "            CREATE TEMP TABLE reading_batch (\n"
        "                i integer, sensor_id bigint, kind text, active boolean, observed_at timestamptz, value float8, why text\n"
        "            ) ON COMMIT DELETE ROWS;\n"
        "            CREATE TEMP TABLE reading_latest (\n"
        "                sensor_id bigint PRIMARY KEY, kind text, active boolean, observed_at timestamptz, value float8,\n"
        "                high float8, low float8, n integer, previous_at timestamptz, previous_value float8\n"
        "            ) ON COMMIT DELETE ROWS;\n"
        "            CREATE TEMP TABLE rule_verdict (\n"
        "                rule_id integer, sensor_id bigint, breach boolean, calm boolean, value float8, observed_at timestamptz\n"
        "            ) ON COMMIT DELETE ROWS;\n"
        "        ELSE\n"
        "            TRUNCATE reading_batch, reading_latest, rule_verdict;\n"
        "        END IF;\n"
        "\n"
        "        INSERT INTO reading_batch\n"
        "        SELECT r.i, s.id, s.kind, s.state = 'active', r.at, r.v,\n"
        "               CASE WHEN s.id IS NULL THEN 'unknown_device'\n"
        "                    WHEN s.state = 'retired' THEN 'retired'\n"
        "                    WHEN r.at IS NULL THEN 'no_time'\n"
        "                    WHEN r.v IS NULL OR r.v = 'NaN'::float8 OR r.v IN ('Infinity'::float8, '-Infinity'::float8) THEN 'not_a_number'\n"
        "                    WHEN r.at > received + ahead THEN 'future'\n"
        "                    WHEN r.at < received - keep THEN 'too_old'\n"
        "                    WHEN r.u IS NOT NULL AND k.senml_unit IS NOT NULL AND r.u <> k.senml_unit THEN 'wrong_unit'\n"
        "                    WHEN r.v < k.physical_min OR r.v > k.physical_max THEN 'out_of_range' END\n"
        "        FROM unnest(codes, ats, vals, units) WITH ORDINALITY AS r(code, at, v, u, i)\n"
        "        LEFT JOIN sensor s ON s.code = r.code AND (scope IS NULL OR s.units @> ARRAY[scope])\n"
        "        LEFT JOIN sensor_kind k ON k.code = s.kind;\n"
        "\n"
        "        refused_at := ARRAY(SELECT b.i FROM reading_batch b WHERE b.why IS NOT NULL ORDER BY b.i);\n"
        "        refused_why := ARRAY(SELECT b.why FROM reading_batch b WHERE b.why IS NOT NULL ORDER BY b.i);\n"
        "\n"
        "        -- a device that sent a physically impossible value is faulty until it sends a possible one\n"
        "        UPDATE sensor_status st SET condition = 'fault', fault_at = f.at, fault_value = f.v\n"
        "        FROM (SELECT DISTINCT ON (b.sensor_id) b.sensor_id, b.observed_at AS at, b.value AS v\n"
        "              FROM reading_batch b WHERE b.why = 'out_of_range' ORDER BY b.sensor_id, b.observed_at DESC) f\n"
        "        WHERE st.sensor_id = f.sensor_id AND (st.observed_at IS NULL OR f.at > st.observed_at);\n"
        "\n"
        "        WITH fresh AS (\n"
        "            INSERT INTO observation (sensor_id, observed_at, value, received_at)\n"
        "            SELECT DISTINCT ON (b.sensor_id, b.observed_at) b.sensor_id, b.observed_at, b.value, received\n"
        "            FROM reading_batch b WHERE b.why IS NULL\n"
        "            ORDER BY b.sensor_id, b.observed_at, b.i DESC\n"
        "            ON CONFLICT DO NOTHING\n"
        "            RETURNING 1\n"
        "        )\n"
        "        SELECT count(*) INTO stored FROM fresh;\n"
        "        duplicates := (SELECT count(*) FROM reading_batch b WHERE b.why IS NULL) - stored;\n"
        "\n"
        "        -- what moves each device's status: its readings newer than the status (never a duplicate, which was\n"
        "        -- stored when it came first and moved the status then), summed up to the newest\n"
        "        INSERT INTO reading_latest (sensor_id, kind, active, observed_at, value, high, low, n, previous_at, previous_value)\n"
        "        SELECT DISTINCT ON (b.sensor_id) b.sensor_id, b.kind, b.active, b.observed_at, b.value, max(b.value) OVER w,\n"
        "               min(b.value) OVER w, count(*) OVER w, st.observed_at, st.value\n"
        "        FROM reading_batch b JOIN sensor_status st ON st.sensor_id = b.sensor_id\n"
        "        WHERE b.why IS NULL AND (st.observed_at IS NULL OR b.observed_at > st.observed_at)\n"
        "        WINDOW w AS (PARTITION BY b.sensor_id) ORDER BY b.sensor_id, b.observed_at DESC;\n"
        "        late := greatest(stored - (SELECT coalesce(sum(l.n), 0) FROM reading_latest l), 0);\n"
        "\n"
        "        UPDATE sensor_status st\n"
        "        SET previous_at = st.observed_at, previous_value = st.value, observed_at = l.observed_at, value = l.value,\n"
        "            condition = CASE WHEN st.fault_at > l.observed_at THEN 'fault'::sensor_condition ELSE 'normal' END,\n"
        "            readings = st.readings + l.n\n"
        "        FROM reading_latest l WHERE st.sensor_id = l.sensor_id;\n"
        "\n"
        "        -- each device's rules: its own override, else its kind's; a disabled override silences the kind's rule\n"
        "        INSERT INTO rule_verdict\n"
        "        SELECT r.id, l.sensor_id,\n"
        "               CASE WHEN r.rule = 'rate' THEN rate >= r.raise_at\n"
        "                    WHEN r.for_seconds > 0 THEN (r.raise_at > r.clear_at AND l.value >= r.raise_at)\n"
        "                                             OR (r.raise_at < r.clear_at AND l.value <= r.raise_at)\n"
        "                    ELSE (r.raise_at > r.clear_at AND l.high >= r.raise_at) OR (r.raise_at < r.clear_at AND l.low <= r.raise_at) END,\n"
        "               CASE WHEN r.rule = 'rate' THEN coalesce(rate <= r.clear_at, false)\n"
        "                    ELSE (r.raise_at > r.clear_at AND l.value <= r.clear_at) OR (r.raise_at < r.clear_at AND l.value >= r.clear_at) END,\n"
        "               CASE WHEN r.rule = 'rate' THEN rate WHEN r.raise_at > r.clear_at THEN l.high ELSE l.low END,\n"
        "               l.observed_at\n"
        "        FROM reading_latest l\n"
        "        CROSS JOIN LATERAL (\n"
        "            SELECT (l.value - l.previous_value) / nullif(extract(epoch FROM l.observed_at - l.previous_at) / 60, 0) AS rate\n"
        "        ) change\n"
        "        JOIN (  -- the kinds' rules where no device overrides them (a hash join: no probe per reading) …\n"
        "            SELECT x.*, NULL::bigint AS only FROM sensor_rule x WHERE x.sensor_id IS NULL AND x.rule IN ('threshold', 'rate')\n"
        "            UNION ALL  -- … and the devices' own\n"
        "            SELECT x.*, x.sensor_id FROM sensor_rule x WHERE x.sensor_id IS NOT NULL AND x.rule IN ('threshold', 'rate')\n"
        "        ) r ON r.kind = l.kind AND (r.only IS NULL OR r.only = l.sensor_id) AND r.enabled\n"
        "        WHERE l.active AND (r.only IS NOT NULL OR NOT EXISTS (\n"
        "            SELECT 1 FROM sensor_rule o WHERE o.sensor_id = l.sensor_id AND o.kind = r.kind AND o.rule = r.rule));\n"
        "\n"
        "        -- a duration: the breach is pending from the first reading in breach, and raises once it has lasted\n"
        "        DELETE FROM sensor_rule_pending p USING rule_verdict v\n"
        "        WHERE p.rule_id = v.rule_id AND p.sensor_id = v.sensor_id AND NOT v.breach;\n"
        "        INSERT INTO sensor_rule_pending (rule_id, sensor_id, since)\n"
        "        SELECT v.rule_id, v.sensor_id, v.observed_at FROM rule_verdict v JOIN sensor_rule r ON r.id = v.rule_id\n"
        "        WHERE v.breach AND r.for_seconds > 0\n"
        "        ON CONFLICT DO NOTHING;\n"
        "        UPDATE rule_verdict v SET breach = v.observed_at - p.since >= make_interval(secs => r.for_seconds)\n"
        "        FROM sensor_rule r, sensor_rule_pending p\n"
        "        WHERE r.id = v.rule_id AND r.for_seconds > 0 AND p.rule_id = v.rule_id AND p.sensor_id = v.sensor_id AND v.breach;\n"
        "\n"
        "        WITH up AS (\n"
        "            INSERT INTO sensor_alarm AS a (rule_id, sensor_id, kind, geom, units, value, peak, raised_at, files_case)\n"
        "            SELECT v.rule_id, v.sensor_id, s.kind, s.geom, s.units, v.value, v.value, v.observed_at, k.category_code IS NOT NULL\n"
        "            FROM rule_verdict v JOIN sensor s ON s.id = v.sensor_id JOIN sensor_kind k ON k.code = s.kind\n"
        "            WHERE v.breach\n"
        "            ON CONFLICT (rule_id, sensor_id) WHERE state <> 'closed' AND sensor_id IS NOT NULL\n"
        "            DO UPDATE SET state = 'raised', flaps = a.flaps + 1, cleared_at = NULL, value = excluded.value,\n"
        "                          peak = excluded.peak, version = a.version + 1\n"
        "            WHERE a.state = 'cleared'\n"
        "            RETURNING a.id\n"
        "        )\n"
        "        SELECT array_agg(id) INTO raised FROM up;\n"
        "\n"
        "        -- an open alarm keeps its worst value; a rule back past its band clears; a device heard is not silent\n"
        "        UPDATE sensor_alarm a SET peak = CASE WHEN r.raise_at > r.clear_at THEN greatest(a.peak, v.value) ELSE least(a.peak, v.value) END\n"
        "        FROM rule_verdict v JOIN sensor_rule r ON r.id = v.rule_id\n"
        "        WHERE a.rule_id = v.rule_id AND a.sensor_id = v.sensor_id AND a.state IN ('raised', 'acknowledged') AND v.breach\n"
        "          AND a.peak IS DISTINCT FROM CASE WHEN r.raise_at > r.clear_at THEN greatest(a.peak, v.value) ELSE least(a.peak, v.value) END;\n"
        "        WITH calmed AS (\n"
        "            UPDATE sensor_alarm a SET state = 'cleared', cleared_at = v.observed_at, version = a.version + 1\n"
        "            FROM rule_verdict v\n"
        "            WHERE a.rule_id = v.rule_id AND a.sensor_id = v.sensor_id AND a.state IN ('raised', 'acknowledged') AND v.calm\n"
        "            RETURNING a.id\n"
        "        ), heard AS (\n"
        "            UPDATE sensor_alarm a SET state = 'cleared', cleared_at = l.observed_at, version = a.version + 1\n"
        "            FROM reading_latest l, sensor_rule r\n"
        "            WHERE a.sensor_id = l.sensor_id AND r.id = a.rule_id AND r.rule = 'silence' AND a.state IN ('raised', 'acknowledged')\n"
        "            RETURNING a.id\n"
        "        )\n"
        "        SELECT array_agg(id) INTO cleared FROM (SELECT id FROM calmed UNION ALL SELECT id FROM heard) c;\n"
        "\n"
        "        UPDATE sensor_status st SET condition = 'alarm'\n"
        "        FROM reading_latest l\n"
        "        WHERE st.sensor_id = l.sensor_id AND st.condition = 'normal' AND EXISTS (\n"
        "            SELECT 1 FROM sensor_alarm a WHERE a.sensor_id = l.sensor_id AND a.state IN ('raised', 'acknowledged'));\n"
        "\n"
        "        raised := coalesce(raised, '{}');\n"
        "        cleared := coalesce(cleared, '{}');\n"
        "        turned := ARRAY(SELECT DISTINCT a.sensor_id FROM sensor_alarm a JOIN sensor_rule r ON r.id = a.rule_id\n"
        "                        WHERE a.id = ANY(raised || cleared) AND r.rule = 'threshold');\n"
        "        RETURN NEXT;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_ingest_readings(text[],timestamp with time zone[],double precision[],text[],timestamp with time zone,interval,interval,bigint) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_ingest_readings(text[],timestamp with time zone[],double precision[],text[],timestamp with time zone,interval,interval,bigint) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_observation_partitions(keep interval, ahead integer DEFAULT 2)\n"
        " RETURNS TABLE(created integer, dropped integer)\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- readings are kept by UTC day: the days from retention to `ahead` days on exist, older ones are dropped\n"
        "    -- whole (a DROP, not a DELETE: no bloat, no vacuum); minute rollups go with them, hour rollups stay\n"
        "    DECLARE\n"
        "        today date := (now() AT TIME ZONE 'UTC')::date;\n"
        "        first_day date := ((now() - greatest(keep, interval '1 day')) AT TIME ZONE 'UTC')::date;\n"
        "        day date;\n"
        "        part record;\n"
        "    BEGIN\n"
        "        created := 0; dropped := 0;\n"
        "        FOR day IN SELECT generate_series(first_day, today + ahead, interval '1 day')::date LOOP\n"
        "            IF to_regclass(format('observation_%s', to_char(day, 'YYYYMMDD'))) IS NULL THEN\n"
        "                EXECUTE format('CREATE TABLE %I PARTITION OF observation FOR VALUES FROM (%L) TO (%L)',\n"
        "                               format('observation_%s', to_char(day, 'YYYYMMDD')),\n"
        "                               day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');\n"
        "                created := created + 1;\n"
        "            END IF;\n"
        "        END LOOP;\n"
        "        FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid\n"
        "                    WHERE i.inhparent = 'observation'::regclass  -- (the guard: the planner may test any relname)\n"
        "                      AND CASE WHEN c.relname ~ '^observation_[0-9]{8}$'\n"
        "                               THEN to_date(right(c.relname, 8), 'YYYYMMDD') < first_day ELSE false END LOOP\n"
        "            EXECUTE format('DROP TABLE %I', part.relname);\n"
        "            dropped := dropped + 1;\n"
        "        END LOOP;\n"
        "        DELETE FROM observation_minute WHERE minute < first_day::timestamp AT TIME ZONE 'UTC';\n"
        "        RETURN NEXT;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_observation_partitions(interval,integer) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_observation_partitions(interval,integer) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_observation_rollup(until timestamp with time zone)\n"
        " RETURNS TABLE(minutes integer, hours integer)\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- the minute and hour rollups of every (device, minute) that received a reading since the last round,\n"
        "    -- recomputed whole from the readings, so a late reading corrects its minute and hour instead of being\n"
        "    -- lost; one round at a time (the watermark row is locked)\n"
        "    DECLARE\n"
        "        since timestamptz;\n"
        "    BEGIN\n"
        "        SELECT done_until INTO since FROM sensing_rollup WHERE name = 'minute' FOR UPDATE;\n"
        "        IF until <= since THEN\n"
        "            minutes := 0; hours := 0; RETURN NEXT; RETURN;\n"
        "        END IF;\n"
        "        CREATE TEMP TABLE touched ON COMMIT DROP AS\n"
        "        SELECT DISTINCT sensor_id, date_trunc('minute', observed_at) AS minute\n"
        "        FROM observation WHERE received_at > since AND received_at <= until;\n"
        "        INSERT INTO observation_minute (sensor_id, minute, n, low, high, total)\n"
        "        SELECT t.sensor_id, t.minute, count(*), min(o.value), max(o.value), sum(o.value)\n"
        "        FROM touched t JOIN observation o\n"
        "          ON o.sensor_id = t.sensor_id AND o.observed_at >= t.minute AND o.observed_at < t.minute + interval '1 minute'\n"
        "        GROUP BY t.sensor_id, t.minute\n"
        "        ON CONFLICT (sensor_id, minute) DO UPDATE\n"
        "        SET n = excluded.n, low = excluded.low, high = excluded.high, total = excluded.total;\n"
        "        GET DIAGNOSTICS minutes = ROW_COUNT;\n"
        "        INSERT INTO observation_hour (sensor_id, hour, n, low, high, total)\n"
        "        SELECT m.sensor_id, h.hour, sum(m.n), min(m.low), max(m.high), sum(m.total)\n"
        "        FROM (SELECT DISTINCT sensor_id, date_trunc('hour', minute) AS hour FROM touched) h\n"
        "        JOIN observation_minute m\n"
        "          ON m.sensor_id = h.sensor_id AND m.minute >= h.hour AND m.minute < h.hour + interval '1 hour'\n"
        "        GROUP BY m.sensor_id, h.hour\n"
        "        ON CONFLICT (sensor_id, hour) DO UPDATE\n"
        "        SET n = excluded.n, low = excluded.low, high = excluded.high, total = excluded.total;\n"
        "        GET DIAGNOSTICS hours = ROW_COUNT;\n"
        "        UPDATE sensing_rollup SET done_until = until WHERE name IN ('minute', 'hour');\n"
        "        RETURN NEXT;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_observation_rollup(timestamp with time zone) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_observation_rollup(timestamp with time zone) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_sensor_changed()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- a new device gets its status row; a device retired or moved closes its open alarms (they spoke of a\n"
        "    -- place or a device that is no longer there) and starts its status afresh\n"
        "    BEGIN\n"
        "        IF TG_OP = 'INSERT' THEN\n"
        "            INSERT INTO sensor_status (sensor_id) VALUES (NEW.id);\n"
        "        ELSIF NEW.state = 'retired' AND OLD.state <> 'retired' OR NOT ST_Equals(NEW.geom, OLD.geom) THEN\n"
        "            UPDATE sensor_alarm\n"
        "            SET state = 'closed', closed_at = now(), closed_by = 'system:sensing', version = version + 1,\n"
        "                close_reason = CASE WHEN NEW.state = 'retired' THEN 'sensor_retired' ELSE 'sensor_moved' END\n"
        "            WHERE sensor_id = NEW.id AND state <> 'closed';\n"
        "            DELETE FROM sensor_rule_pending WHERE sensor_id = NEW.id;\n"
        "            UPDATE sensor_status SET condition = 'unknown' WHERE sensor_id = NEW.id;\n"
        "        END IF;\n"
        "        RETURN NULL;\n"
        "    END $function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_sensor_changed() FROM PUBLIC;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_silence_round(at timestamp with time zone)\n"
        " RETURNS TABLE(alarm_id bigint)\n"
        " LANGUAGE sql\n"
        " SECURITY DEFINER\n"
        " SET search_path TO 'public', 'pg_temp'\n"
        "AS $function$\n"
        "    -- an active device not heard for its silence rule's minutes (or never, that long after installation)\n"
        "    -- is offline: one alarm per device, cleared by its next reading (cityops_ingest_readings)\n"
        "    WITH silent AS (\n"
        "        SELECT r.id AS rule_id, s.id AS sensor_id, s.kind, s.geom, s.units, coalesce(st.observed_at, s.installed_at) AS heard\n"
        "        FROM sensor s\n"
        "        JOIN sensor_status st ON st.sensor_id = s.id\n"
        "        JOIN LATERAL (\n"
        "            SELECT x.* FROM sensor_rule x\n"
        "            WHERE x.kind = s.kind AND x.rule = 'silence' AND (x.sensor_id IS NULL OR x.sensor_id = s.id)\n"
        "            ORDER BY x.sensor_id NULLS LAST LIMIT 1\n"
        "        ) r ON r.enabled\n"
        "        WHERE s.state = 'active' AND coalesce(st.observed_at, s.installed_at) < at - make_interval(mins => r.silent_minutes)\n"
        "    ), offline AS (\n"
        "        UPDATE sensor_status st SET condition = 'offline'\n"
        "        FROM silent WHERE st.sensor_id = silent.sensor_id AND st.condition <> 'offline'\n"
        "    )\n"
        "    INSERT INTO sensor_alarm (rule_id, sensor_id, kind, geom, units, raised_at)\n"
        "    SELECT rule_id, sensor_id, kind, geom, units, at FROM silent\n"
        "    ON CONFLICT (rule_id, sensor_id) WHERE state <> 'closed' AND sensor_id IS NOT NULL DO NOTHING\n"
        "    RETURNING id\n"
        "$function$;\n"
        "REVOKE ALL ON FUNCTION public.cityops_silence_round(timestamp with time zone) FROM PUBLIC;\n"
        "GRANT EXECUTE ON FUNCTION public.cityops_silence_round(timestamp with time zone) TO cityops_api;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER sensor_changed AFTER INSERT OR UPDATE OF state, geom ON public.sensor FOR EACH ROW EXECUTE FUNCTION cityops_sensor_changed();\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER sensor_changed ON public.sensor;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_silence_round;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_sensor_changed;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_observation_rollup;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_observation_partitions;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_ingest_readings;",
        execution_options={"no_parameters": True},
    )
