CREATE OR REPLACE FUNCTION public.cityops_reoffered_to(released bigint)
 RETURNS TABLE(next_id bigint, code text, name text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        SELECT a.id, f.code, f.name FROM assignment a JOIN force f ON f.id = a.force_id
        WHERE a.reoffer_of = released
    $function$;
REVOKE ALL ON FUNCTION public.cityops_reoffered_to(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_reoffered_to(bigint) TO cityops_api;
