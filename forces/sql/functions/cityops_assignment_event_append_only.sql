CREATE OR REPLACE FUNCTION public.cityops_assignment_event_append_only()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        RAISE EXCEPTION 'assignment_event is append-only' USING ERRCODE = 'insufficient_privilege';
    END $function$;
