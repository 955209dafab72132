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
        ELSE
            areas := ARRAY(
                SELECT DISTINCT a[cardinality(a)] FROM old_rows o JOIN new_rows n ON n.id = o.id,
                    LATERAL (VALUES (cityops_rollup_area(o.ancestors, o.id)), (cityops_rollup_area(n.ancestors, n.id))) v(a)
                WHERE (o.tier = 'grid' OR n.tier = 'grid')
                  AND (o.tier IS DISTINCT FROM n.tier
                       OR cityops_rollup_area(o.ancestors, o.id) IS DISTINCT FROM cityops_rollup_area(n.ancestors, n.id)));
        END IF;
        IF cardinality(areas) > 0 THEN
            PERFORM cityops_evaluation_rollup_rebuild(areas);
        END IF;
        RETURN NULL;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_evaluation_rollup_regroup() FROM PUBLIC;
