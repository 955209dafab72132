CREATE OR REPLACE FUNCTION public.cityops_screen_districts(day_start timestamp with time zone, since timestamp with time zone)
 RETURNS TABLE(district bigint, received_today bigint, open bigint, overdue bigint, filed bigint, closed bigint, closed_on_time bigint, forces_available bigint)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    BEGIN
        RETURN QUERY EXECUTE format($q$
        WITH cases AS (
            SELECT e.units[2] AS district,
                   count(*) FILTER (WHERE e.filed_at >= $1 AND e.state <> 'void') AS received_today,
                   count(*) FILTER (WHERE e.state NOT IN ('closed', 'void')) AS open,
                   count(*) FILTER (WHERE e.state NOT IN ('closed', 'void') AND e.deadline < now()) AS overdue
            FROM case_file e
            WHERE (e.state NOT IN ('closed', 'void') OR e.filed_at >= $1) AND e.units @> ARRAY[%1$L::bigint]
          AND (%2$L::text IS NULL OR e.departments @> ARRAY[%2$L::text])
            GROUP BY 1
        ), moves AS (
            SELECT e.units[2] AS district, count(*) FILTER (WHERE t.action = 'file') AS filed,
                   count(*) FILTER (WHERE t.action = 'close') AS closed,
                   count(*) FILTER (WHERE t.action = 'close' AND t.at <= t.deadline) AS closed_on_time
            FROM case_transition t JOIN case_file e ON e.id = t.case_id
            WHERE t.at >= $2 AND t.action IN ('file', 'close') AND e.units @> ARRAY[%1$L::bigint]
          AND (%2$L::text IS NULL OR e.departments @> ARRAY[%2$L::text])
            GROUP BY 1
        ), forces AS (
            SELECT f.units[2] AS district, count(*) AS forces_available FROM force f
            WHERE f.status = 'available' AND f.units @> ARRAY[%1$L::bigint]
              AND (%2$L::text IS NULL OR f.department = %2$L::text)
            GROUP BY 1
        )
        SELECT coalesce(c.district, m.district, f.district), coalesce(c.received_today, 0), coalesce(c.open, 0),
               coalesce(c.overdue, 0), coalesce(m.filed, 0), coalesce(m.closed, 0), coalesce(m.closed_on_time, 0),
               coalesce(f.forces_available, 0)
        FROM cases c FULL JOIN moves m ON m.district = c.district
        FULL JOIN forces f ON f.district = coalesce(c.district, m.district)
        $q$, cityops_scope_unit(), cityops_scope_department()) USING day_start, since;
    END
    $function$;
REVOKE ALL ON FUNCTION public.cityops_screen_districts(timestamp with time zone,timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_screen_districts(timestamp with time zone,timestamp with time zone) TO cityops_api;
