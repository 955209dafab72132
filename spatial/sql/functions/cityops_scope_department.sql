CREATE OR REPLACE FUNCTION public.cityops_scope_department()
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$
        SELECT nullif(current_setting('cityops.department', true), '')
    $function$;
