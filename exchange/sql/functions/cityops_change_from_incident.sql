CREATE OR REPLACE FUNCTION public.cityops_change_from_incident()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
AS $function$
    BEGIN
        INSERT INTO change_event (type, subject, units, departments, data)
        VALUES ('incident.changed', 'incident/' || NEW.code, NEW.units, NEW.departments,
                jsonb_build_object(
                    'incident', NEW.code, 'title', NEW.title, 'class', NEW.class_code, 'level', NEW.level,
                    'state', NEW.state, 'version', NEW.version, 'lon', round(ST_X(NEW.command_post)::numeric, 6),
                    'lat', round(ST_Y(NEW.command_post)::numeric, 6), 'at', now()));
        RETURN NULL;
    END $function$;
