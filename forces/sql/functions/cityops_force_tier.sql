CREATE OR REPLACE FUNCTION public.cityops_force_tier(units bigint[], unit_id bigint, own bigint, parents bigint[], neighbours bigint[])
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE
AS $function$
        SELECT CASE WHEN units @> ARRAY[own] OR unit_id = ANY(parents) THEN 0
                    WHEN units && neighbours THEN 1 ELSE 2 END
    $function$;
