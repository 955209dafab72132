CREATE OR REPLACE FUNCTION public.cityops_queue_walk(one_state text, handled_by text, late_only boolean, n integer)
 RETURNS TABLE(id bigint, due timestamp with time zone)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    DECLARE
    scope bigint := cityops_scope_unit();
    narrowed text := cityops_scope_department();
    depth int;
    street bigint;
    place text;
    needs_case boolean;

    BEGIN
    SELECT cardinality(u.ancestors) + 1, (u.ancestors || u.id)[3] INTO depth, street FROM unit u WHERE u.id = scope;
    IF depth IS NULL THEN
        RETURN;
    END IF;
    place := CASE WHEN depth = 1 THEN '' WHEN depth = 2 THEN 'AND k.district = $4'
                  WHEN depth = 3 THEN 'AND k.street = $5' ELSE 'AND k.street = $5 AND e.units @> ARRAY[$4]' END
             || CASE WHEN narrowed IS NULL THEN '' ELSE ' AND e.departments @> ARRAY[$6]' END;

        needs_case := depth > 3 OR narrowed IS NOT NULL OR handled_by IS NOT NULL;
        RETURN QUERY EXECUTE format(
            'SELECT k.case_id, k.due_at FROM case_clock k %s WHERE k.state = $1 %s %s %s
             ORDER BY k.due_at, k.case_id LIMIT $7',
            CASE WHEN needs_case THEN 'JOIN case_file e ON e.id = k.case_id' ELSE '' END, place,
            CASE WHEN handled_by IS NULL THEN '' ELSE 'AND e.handling_department = $2' END,
            CASE WHEN late_only THEN 'AND k.due_at < now()' ELSE '' END)
        USING one_state, handled_by, late_only, scope, street, narrowed, n;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_queue_walk(text,text,boolean,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_queue_walk(text,text,boolean,integer) TO cityops_api;
