CREATE OR REPLACE FUNCTION public.cityops_change_from_transitions()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
AS $function$
    BEGIN
        -- one row per move of a live case (an imported history's moves happened elsewhere, long ago)
        INSERT INTO change_event (type, subject, case_id, units, departments, at, data)
        SELECT CASE WHEN t.seq = 1 THEN 'case.created' WHEN t.to_state = 'closed' THEN 'case.closed'
                    ELSE 'case.moved' END,
               'case/' || e.id, e.id, e.units, e.departments, t.at,
               jsonb_build_object(
                   'case_id', e.id, 'action', t.action, 'from_state', t.from_state, 'state', t.to_state,
                   'version', t.seq - 1, 'category', e.category_code, 'severity', e.severity,
                   'source', e.source, 'responsible_unit', r.code, 'district', d.code,
                   'departments', to_jsonb(e.departments), 'department', t.department,
                   'deadline', t.deadline, 'lon', round(ST_X(e.geom)::numeric, 6),
                   'lat', round(ST_Y(e.geom)::numeric, 6), 'address', e.address, 'at', t.at)
        FROM new_rows t
        JOIN case_file e ON e.id = t.case_id AND e.import_batch_id IS NULL
        JOIN unit r ON r.id = e.responsible_unit_id
        LEFT JOIN unit d ON d.id = e.units[2]
        ORDER BY t.id;
        RETURN NULL;
    END $function$;
