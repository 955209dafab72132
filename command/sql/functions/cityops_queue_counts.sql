CREATE OR REPLACE FUNCTION public.cityops_queue_counts(states text[], handled_by text)
 RETURNS TABLE(state text, mine boolean, cases bigint, late bigint)
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
            'SELECT k.state, %s, count(*), count(*) FILTER (WHERE k.due_at < now())
             FROM case_clock k %s WHERE k.state = ANY($1) %s GROUP BY 1, 2',
            CASE WHEN handled_by IS NULL THEN 'NULL::boolean' ELSE 'e.handling_department = $2' END,
            CASE WHEN needs_case THEN 'JOIN case_file e ON e.id = k.case_id' ELSE '' END, place)
        USING states, handled_by, NULL::boolean, scope, street, narrowed;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_queue_counts(text[],text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_queue_counts(text[],text) TO cityops_api;
