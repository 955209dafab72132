CREATE OR REPLACE FUNCTION public.cityops_evaluation_rollup_follow()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- Every statement's new moves counted into the rollup in the same transaction: an evaluation never
    -- sees a move the rollup has not (transitions are append-only, so nothing is ever taken away).
    BEGIN
        PERFORM cityops_evaluation_rollup_add(ARRAY(SELECT n.id FROM new_rows n));
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_evaluation_rollup_follow() FROM PUBLIC;
