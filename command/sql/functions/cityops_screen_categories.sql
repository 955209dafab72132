CREATE OR REPLACE FUNCTION public.cityops_screen_categories(since timestamp with time zone, n integer)
 RETURNS TABLE(category_code text, received bigint)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    BEGIN
        RETURN QUERY EXECUTE format($q$
        SELECT e.category_code::text, count(*) FROM case_file e
        WHERE e.filed_at >= $1 AND e.state <> 'void' AND e.units @> ARRAY[%1$L::bigint]
          AND (%2$L::text IS NULL OR e.departments @> ARRAY[%2$L::text])
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2
        $q$, cityops_scope_unit(), cityops_scope_department()) USING since, n;
    END
    $function$;
REVOKE ALL ON FUNCTION public.cityops_screen_categories(timestamp with time zone,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_screen_categories(timestamp with time zone,integer) TO cityops_api;
