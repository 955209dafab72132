CREATE OR REPLACE FUNCTION public.cityops_sensor_changed()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- a new device gets its status row; a device retired or moved closes its open alarms (they spoke of a
    -- place or a device that is no longer there) and starts its status afresh
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO sensor_status (sensor_id) VALUES (NEW.id);
        ELSIF NEW.state = 'retired' AND OLD.state <> 'retired' OR NOT ST_Equals(NEW.geom, OLD.geom) THEN
            UPDATE sensor_alarm
            SET state = 'closed', closed_at = now(), closed_by = 'system:sensing', version = version + 1,
                close_reason = CASE WHEN NEW.state = 'retired' THEN 'sensor_retired' ELSE 'sensor_moved' END
            WHERE sensor_id = NEW.id AND state <> 'closed';
            DELETE FROM sensor_rule_pending WHERE sensor_id = NEW.id;
            UPDATE sensor_status SET condition = 'unknown' WHERE sensor_id = NEW.id;
        END IF;
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_sensor_changed() FROM PUBLIC;
