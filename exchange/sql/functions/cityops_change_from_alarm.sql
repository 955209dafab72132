CREATE OR REPLACE FUNCTION public.cityops_change_from_alarm()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
AS $function$
    BEGIN
        INSERT INTO change_event (type, subject, case_id, units, data)
        SELECT 'alarm.changed', 'alarm/' || NEW.id, NEW.case_id, NEW.units,
               jsonb_build_object(
                   'alarm_id', NEW.id, 'kind', NEW.kind, 'rule', r.name, 'severity', r.severity,
                   'state', NEW.state, 'value', NEW.value, 'case_id', NEW.case_id,
                   'lon', round(ST_X(NEW.geom)::numeric, 6), 'lat', round(ST_Y(NEW.geom)::numeric, 6),
                   'at', now())
        FROM sensor_rule r WHERE r.id = NEW.rule_id;
        RETURN NULL;
    END $function$;
