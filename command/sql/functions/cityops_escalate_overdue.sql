CREATE OR REPLACE FUNCTION public.cityops_escalate_overdue(at timestamp with time zone, step interval, lim integer)
 RETURNS TABLE(case_id bigint, state text, from_unit text, to_unit text, due timestamp with time zone)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    DECLARE
        c record;
    BEGIN
        FOR c IN
            SELECT e.id, e.state, k.due_at, e.deadline, e.grid_id, e.handling_department, e.responsible_unit_id,
                   u.code AS from_code, p.id AS parent_id, p.code AS to_code
            FROM case_clock k JOIN case_file e ON e.id = k.case_id JOIN unit u ON u.id = e.responsible_unit_id
            LEFT JOIN unit p ON p.id = u.parent_id
            WHERE k.escalate_at <= at AND e.state IN ('reported', 'accepted', 'filed', 'dispatched', 'returned', 'acknowledged', 'handling', 'extension_requested', 'parking_requested', 'parked', 'checking', 'rework')
            ORDER BY k.escalate_at LIMIT lim
            FOR UPDATE OF k, e SKIP LOCKED
        LOOP
            IF c.parent_id IS NULL THEN  -- already at the top: stays overdue, listed, not escalated again
                UPDATE case_clock SET escalate_at = NULL WHERE case_clock.case_id = c.id;
                CONTINUE;
            END IF;
            INSERT INTO case_transition (case_id, seq, action, from_state, to_state, actor, roles, unit_id,
                                         note, prev_hash, hash, department, grid_id, due, deadline, detail)
            VALUES (c.id, 0, 'escalate', c.state, c.state, 'system:scheduler', '{}', c.parent_id,
                    'overdue since ' || to_char(c.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC',
                    '', '', c.handling_department, c.grid_id, c.due_at, c.deadline,
                    jsonb_build_object('from_unit', c.from_code, 'to_unit', c.to_code));
            UPDATE case_file SET responsible_unit_id = c.parent_id, escalations = escalations + 1,
                             version = version + 1, updated_at = now()
            WHERE id = c.id;
            UPDATE case_clock SET escalate_at = at + step WHERE case_clock.case_id = c.id;
            case_id := c.id; state := c.state; from_unit := c.from_code; to_unit := c.to_code; due := c.due_at;
            RETURN NEXT;
        END LOOP;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_escalate_overdue(timestamp with time zone,interval,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_escalate_overdue(timestamp with time zone,interval,integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_escalate_overdue(timestamp with time zone,interval,integer) TO cityops_api;
