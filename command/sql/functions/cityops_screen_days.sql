CREATE OR REPLACE FUNCTION public.cityops_screen_days(since timestamp with time zone, zone text)
 RETURNS TABLE(day date, received bigint, closed bigint)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    BEGIN
        RETURN QUERY EXECUTE format($q$
        WITH received AS (
            SELECT (e.filed_at AT TIME ZONE $2)::date AS day, count(*) AS n FROM case_file e
            WHERE e.filed_at >= $1 AND e.state <> 'void' AND e.units @> ARRAY[%1$L::bigint]
          AND (%2$L::text IS NULL OR e.departments @> ARRAY[%2$L::text]) GROUP BY 1
        ), closed AS (
            SELECT (t.at AT TIME ZONE $2)::date AS day, count(*) AS n
            FROM case_transition t JOIN case_file e ON e.id = t.case_id
            WHERE t.at >= $1 AND t.action = 'close' AND e.units @> ARRAY[%1$L::bigint]
          AND (%2$L::text IS NULL OR e.departments @> ARRAY[%2$L::text]) GROUP BY 1
        )
        SELECT coalesce(r.day, c.day), coalesce(r.n, 0), coalesce(c.n, 0)
        FROM received r FULL JOIN closed c ON c.day = r.day
        $q$, cityops_scope_unit(), cityops_scope_department()) USING since, zone;
    END
    $function$;
REVOKE ALL ON FUNCTION public.cityops_screen_days(timestamp with time zone,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_screen_days(timestamp with time zone,text) TO cityops_api;
