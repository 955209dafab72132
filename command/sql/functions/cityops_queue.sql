CREATE OR REPLACE FUNCTION public.cityops_queue(states text[], handled_by text, late_only boolean, lim integer, skip integer)
 RETURNS TABLE(id bigint, due timestamp with time zone)
 LANGUAGE sql
 STABLE
AS $function$
        SELECT w.id, w.due FROM unnest(states) AS s (state)
        CROSS JOIN LATERAL cityops_queue_walk(s.state, handled_by, late_only, lim + skip) w
        ORDER BY w.due, w.id LIMIT lim OFFSET skip
    $function$;
