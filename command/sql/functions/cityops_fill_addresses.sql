CREATE OR REPLACE FUNCTION public.cityops_fill_addresses()
 RETURNS bigint
 LANGUAGE sql
AS $function$
        -- every case without an address gets its place's, set-based: a grid's words are built once for
        -- all its cases (an import of 100,000 cases touches ~10,000 grids), the building per case
        WITH todo AS (SELECT id, grid_id, geom FROM case_file WHERE coalesce(btrim(address), '') = ''),
        places AS (SELECT g.id, cityops_grid_address(g.id) AS words FROM unit g
                   WHERE g.id IN (SELECT grid_id FROM todo)),
        filled AS (UPDATE case_file e
                   SET address = nullif(concat_ws(' ', p.words, cityops_building_words(t.grid_id, t.geom)), '')
                   FROM todo t JOIN places p ON p.id = t.grid_id WHERE e.id = t.id RETURNING 1)
        SELECT count(*) FROM filled
    $function$;
