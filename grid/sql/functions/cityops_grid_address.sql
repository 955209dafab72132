CREATE OR REPLACE FUNCTION public.cityops_grid_address(grid bigint, finest text DEFAULT 'grid'::text)
 RETURNS text
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE
AS $function$
    -- The place of a grid in words, from the city down to tier ``finest``. Administrative units
    -- only: an address names 浦口区, not the management unit 江北新区 over it.
    DECLARE
        words text[] := '{}';
        unit json;
        parent text := '';
    BEGIN
        FOR unit IN SELECT value FROM unit g, json_array_elements(g.chain) WHERE g.id = grid LOOP
            CONTINUE WHEN unit->>'kind' <> 'administrative' OR unit->>'tier' = 'building';
            EXIT WHEN (unit->>'tier')::tier > finest::tier;
            words := words || CASE unit->>'tier'
                WHEN 'community' THEN regexp_replace(unit->>'name', '(居民委员会|村民委员会|居委会|村委会)$', '')
                WHEN 'grid' THEN regexp_replace(cityops_name_below(unit->>'name', parent),
                                                '^第\s*(\d+)\s*网格$', '第 \1 网格')
                ELSE unit->>'name' END;
            parent := unit->>'name';
        END LOOP;
        RETURN nullif(array_to_string(words, ' '), '');
    END $function$;
