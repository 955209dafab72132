CREATE OR REPLACE FUNCTION public.cityops_evaluation_rollup_regroup()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    -- A grid whose rollup area changed (its chain did, or it stopped being a grid, or it was removed):
    -- the areas it left and joined are counted again. Unchanged grids cost one comparison each.
    DECLARE
        areas bigint[];
    BEGIN
        IF TG_OP = 'DELETE' THEN
            areas := ARRAY(SELECT DISTINCT a[cardinality(a)] FROM old_rows o, cityops_rollup_area(o.ancestors, o.id) a
                           WHERE o.tier = 'grid');
        ELSE  -- (grid, area) pairs on one side only, by set difference (hashed): transition tables
              -- have no statistics or index, and a join of two may be planned as a nested loop
            areas := ARRAY(
                SELECT DISTINCT d.a[cardinality(d.a)] FROM (
                    (SELECT o.id, cityops_rollup_area(o.ancestors, o.id) FROM old_rows o WHERE o.tier = 'grid'
                     EXCEPT SELECT n.id, cityops_rollup_area(n.ancestors, n.id) FROM new_rows n WHERE n.tier = 'grid')
                    UNION ALL
                    (SELECT n.id, cityops_rollup_area(n.ancestors, n.id) FROM new_rows n WHERE n.tier = 'grid'
                     EXCEPT SELECT o.id, cityops_rollup_area(o.ancestors, o.id) FROM old_rows o WHERE o.tier = 'grid')
                ) d(id, a));
        END IF;
        IF cardinality(areas) > 0 THEN
            PERFORM cityops_evaluation_rollup_rebuild(areas);
        END IF;
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_evaluation_rollup_regroup() FROM PUBLIC;
