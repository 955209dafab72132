CREATE OR REPLACE FUNCTION public.cityops_changes_after(after bigint, most integer)
 RETURNS SETOF change_event
 LANGUAGE sql
 STABLE SECURITY DEFINER
AS $function$
        -- every numbered change after a cursor, for the delivery loop, which confines each subscription to
        -- its owner's jurisdiction itself (the pull feed reads the table under row-level security instead)
        SELECT * FROM change_event WHERE seq > after ORDER BY seq LIMIT most
    $function$;
