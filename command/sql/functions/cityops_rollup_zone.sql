CREATE OR REPLACE FUNCTION public.cityops_rollup_zone()
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
        -- Where the rollups' days and months begin: Beijing time, the days the operations centre reports by.
        -- Any zone would keep them exact (a span's whole days come from the rollup, the rest from the moves).
        SELECT 'Asia/Shanghai'::text
    $function$;
