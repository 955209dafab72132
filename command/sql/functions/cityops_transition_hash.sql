CREATE OR REPLACE FUNCTION public.cityops_transition_hash(t case_transition)
 RETURNS character
 LANGUAGE plpgsql
 IMMUTABLE
AS $function$
    BEGIN
        RETURN encode(sha256(convert_to(concat_ws('|', t.prev_hash, t.case_id, t.seq, t.action, t.from_state,
            t.to_state, t.actor, array_to_string(t.roles, ','), coalesce(t.unit_id::text, ''),
            to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), coalesce(ST_AsText(t.geom), ''), t.note,
            array_to_string(t.evidence, ','),
            CASE WHEN num_nonnulls(t.role, t.department, t.grid_id, t.due, t.deadline, t.since, t.detail) > 0 THEN
                concat_ws('|', 'v2', coalesce(t.role, ''), coalesce(t.department, ''), coalesce(t.grid_id::text, ''),
                    coalesce(to_char(t.due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), ''),
                    coalesce(to_char(t.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), ''),
                    coalesce(to_char(t.since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), ''),
                    coalesce(t.detail::text, '')) END), 'UTF8')), 'hex');
    END $function$;
