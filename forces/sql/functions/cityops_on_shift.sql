CREATE OR REPLACE FUNCTION public.cityops_on_shift(shift_start time without time zone, shift_end time without time zone, at time without time zone)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE
AS $function$
        SELECT shift_start IS NULL OR CASE WHEN shift_start <= shift_end
            THEN at >= shift_start AND at < shift_end ELSE at >= shift_start OR at < shift_end END
    $function$;
