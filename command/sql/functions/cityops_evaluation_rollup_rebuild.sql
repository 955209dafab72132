CREATE OR REPLACE FUNCTION public.cityops_evaluation_rollup_rebuild(areas bigint[])
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- The rollup of these areas (the last unit of cityops_rollup_area) counted again from the moves: after grids changed hands (a boundary
    -- import re-parented them, or one was removed), their history belongs to other areas.
    BEGIN
        DELETE FROM evaluation_rollup r WHERE r.area_id = ANY(areas);
        PERFORM cityops_evaluation_rollup_add(ARRAY(SELECT e.id FROM evaluation_move e WHERE e.area[cardinality(e.area)] = ANY(areas)));
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_evaluation_rollup_rebuild(bigint[]) FROM PUBLIC;
