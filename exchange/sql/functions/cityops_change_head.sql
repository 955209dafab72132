CREATE OR REPLACE FUNCTION public.cityops_change_head()
 RETURNS bigint
 LANGUAGE sql
 STABLE SECURITY DEFINER
AS $function$
        -- the highest number given, whoever's change it is: a feed reader with none of its own to read
        -- moves its cursor past the others' (a number reveals nothing; the rows stay under row-level security)
        SELECT coalesce(max(seq), 0) FROM change_event
    $function$;
