CREATE OR REPLACE FUNCTION public.cityops_units_by_name(q text, pattern text, tiers text, candidates integer)
 RETURNS TABLE(id bigint, name text, tier tier, squeezed text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
 SET max_parallel_workers_per_gather TO '0'
AS $function$
    DECLARE
        pairs text[] := cityops_query_grams(q);
    BEGIN
        IF cardinality(pairs) > 3 THEN  -- a short query's pairs are all asked: no statistics to read
            pairs := (SELECT array_agg(r.pair) FROM cityops_rarest_pairs(q, CASE tiers WHEN 'areas' THEN 'ix_unit_area_name_grams' WHEN 'grids' THEN 'ix_unit_grid_name_grams'
                       ELSE 'ix_unit_building_name_grams' END, 3) AS r);
        END IF;
        -- Units of a tier group (areas: city … community; grids; buildings) whose name contains q, from
        -- the group's own index asked for q's rarest pairs (migration 0025). Planned at each call with
        -- the pairs known (EXECUTE): a plan cached for any q may scan every name of a group instead.
        RETURN QUERY EXECUTE format('
            SELECT u.id, u.name, u.tier, s FROM unit u, cityops_squeeze(u.name) AS s
            WHERE %s AND cityops_grams(u.name) @> $1 AND s LIKE cityops_squeeze($2)
            LIMIT $3', CASE tiers WHEN 'areas' THEN 'u.tier < ''grid''' WHEN 'grids' THEN 'u.tier = ''grid'''
                                  ELSE 'u.tier = ''building''' END)
            USING pairs, pattern, candidates;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_units_by_name(text,text,text,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_units_by_name(text,text,text,integer) TO cityops_api;
