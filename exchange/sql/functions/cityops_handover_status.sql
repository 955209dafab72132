CREATE OR REPLACE FUNCTION public.cityops_handover_status()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        -- a case a neighbour handed here moved: the neighbour is told, in the same transaction (never lost);
        -- both statements find the handed-in cases through the handover's case index, so other moves pay one probe
        INSERT INTO peer_outbox (peer, handover_id, kind, body)
        SELECT h.peer, h.id, 'status', jsonb_build_object(
                   'handover', h.remote_id, 'case', t.case_id, 'seq', t.seq, 'action', t.action,
                   'state', t.to_state, 'unit', u.code, 'at', t.at)
        FROM new_rows t JOIN handover h ON h.case_id = t.case_id AND h.direction = 'in'
        LEFT JOIN unit u ON u.id = t.unit_id
        ORDER BY t.case_id, t.seq;
        UPDATE handover h SET state = l.to_state, updated_at = now()
        FROM (SELECT DISTINCT ON (case_id) case_id, to_state FROM new_rows ORDER BY case_id, seq DESC) l
        WHERE h.case_id = l.case_id AND h.direction = 'in';
        RETURN NULL;
    END $function$;
