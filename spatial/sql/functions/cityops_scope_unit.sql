CREATE OR REPLACE FUNCTION public.cityops_scope_unit()
 RETURNS bigint
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
        SELECT nullif(current_setting('cityops.scope_unit', true), '')::bigint
    $function$;
