CREATE OR REPLACE FUNCTION public.cityops_change_sequence()
 RETURNS bigint
 LANGUAGE sql
 SECURITY DEFINER
AS $function$
        -- committed changes not numbered yet, numbered after the highest number in id order (one caller
        -- at a time: the sequencer loop's lock); a change committed after this snapshot gets a later number
        WITH pending AS (
            SELECT id, row_number() OVER (ORDER BY id) AS n FROM change_event WHERE seq IS NULL ORDER BY id LIMIT 50000
        ), numbered AS (
            UPDATE change_event c SET seq = (SELECT coalesce(max(seq), 0) FROM change_event) + p.n
            FROM pending p WHERE c.id = p.id
            RETURNING c.seq
        )
        SELECT coalesce(max(seq), 0) FROM numbered
    $function$;
