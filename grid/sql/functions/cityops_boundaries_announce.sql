CREATE OR REPLACE FUNCTION public.cityops_boundaries_announce()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    -- Every process holding the locate index in memory (grid.locate_index) reloads it: the units,
    -- their chains or the H3 coverage changed. Once a statement; delivered when the change commits.
    BEGIN
        PERFORM pg_notify('cityops_boundaries', TG_TABLE_NAME);
        RETURN NULL;
    END $function$;
