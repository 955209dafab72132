CREATE OR REPLACE FUNCTION public.cityops_verify_transitions()
 RETURNS TABLE(case_id bigint, seq integer, problem text)
 LANGUAGE sql
 STABLE
AS $function$
        WITH chained AS (
            SELECT t AS row, t.case_id, t.seq, t.hash, t.prev_hash, t.to_state,
                   cityops_transition_hash(t) AS recomputed,
                   lag(t.hash) OVER w AS before, lag(t.seq) OVER w AS before_seq,
                   row_number() OVER (PARTITION BY t.case_id ORDER BY t.seq DESC) AS from_end
            FROM case_transition t WINDOW w AS (PARTITION BY t.case_id ORDER BY t.seq)
        ), judged AS (
            SELECT c.case_id, c.seq, CASE
                WHEN c.hash <> c.recomputed THEN 'its content was changed'
                WHEN c.prev_hash <> coalesce(c.before, repeat('0', 64)) OR c.seq <> coalesce(c.before_seq, 0) + 1
                    THEN 'a row before it was changed, removed or inserted'
                WHEN c.from_end = 1 AND c.to_state <> (SELECT e.state FROM case_file e WHERE e.id = c.case_id)
                    THEN 'the case is not in the state its last transition left it in'
                END AS problem
            FROM chained c
        )
        SELECT * FROM judged WHERE problem IS NOT NULL ORDER BY case_id, seq
    $function$;
