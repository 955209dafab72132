CREATE OR REPLACE FUNCTION public.cityops_squeeze(t text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
        -- what search compares: no spaces (ASCII, full-width, tabs, line breaks), lower case
        SELECT translate(lower(t), E'
', '')
    $function$;
