CREATE OR REPLACE FUNCTION public.cityops_move_counts(t case_transition)
 RETURNS TABLE(filed integer, closed integer, closed_on_time integer, handled integer, handled_on_time integer, handling_s numeric, checked integer, reworked integer, dispatched integer, returned integer, moves integer, late_moves integer, escalated integer, reopened integer, supervised integer)
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
        -- What one move adds to each count of the evaluation (GB/T 30428): the one place these are defined;
        -- the rollups and the evaluation's own reading of the transitions both sum them.
        SELECT (t.action = 'file')::int,
            (t.action = 'close')::int,
            (t.action = 'close' AND t.at <= t.deadline IS TRUE)::int,
            (t.action = 'feedback')::int,
            (t.action = 'feedback' AND t.at <= t.deadline IS TRUE)::int,
            CASE WHEN t.action = 'feedback' THEN extract(epoch FROM t.at - t.since) END,
            (t.action IN ('close', 'rework'))::int,
            (t.action = 'rework')::int,
            (t.action = 'dispatch')::int,
            (t.action = 'return')::int,
            (t.due IS NOT NULL AND t.action <> 'escalate')::int,
            (t.at > t.due IS TRUE AND t.action <> 'escalate')::int,
            (t.action = 'escalate')::int,
            (t.action = 'reopen')::int,
            (t.action = 'supervise')::int
    $function$;
