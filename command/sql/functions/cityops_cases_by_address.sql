CREATE OR REPLACE FUNCTION public.cityops_cases_by_address(q text, pattern text, candidates integer)
 RETURNS TABLE(id bigint, squeezed text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
 SET max_parallel_workers_per_gather TO '0'
AS $function$
    DECLARE
        rare text[];
        share double precision;  -- of the cases holding q's rarest pair
        cases double precision := (SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'case_file'::regclass);
        budget bigint;
        found bigint;
    BEGIN
        -- Cases in the caller's scope whose address contains q (``pattern``: squeezed, LIKE-escaped,
        -- within %), as the owner applying the case policy's own predicate (migration 0010): under
        -- row-level security the grams index cannot answer (array containment is not leakproof).
        SELECT array_agg(r.pair), coalesce(min(r.share), 0) INTO rare, share
        FROM cityops_rarest_pairs(q, 'ix_event_address_grams', 3) AS r;
        -- a common word: the newest cases (migration 0025 weighs the two ways)
        IF share > 0 AND candidates * 20 / share < share * cases + candidates * 100 THEN
            budget := ceil(4 * candidates / share);
            RETURN QUERY
                SELECT e.id, s FROM (SELECT n.id, n.address, n.units, n.departments FROM case_file n
                                     ORDER BY n.id DESC LIMIT budget) AS e, cityops_squeeze(e.address) AS s
                WHERE s LIKE cityops_squeeze(pattern) AND e.units @> ARRAY[cityops_scope_unit()]
              AND (cityops_scope_department() IS NULL OR e.departments @> ARRAY[cityops_scope_department()])
                LIMIT candidates;
            GET DIAGNOSTICS found = ROW_COUNT;
            IF found < candidates THEN  -- thinner than its pairs promised: the index, among the older cases
                RETURN QUERY EXECUTE '
            SELECT e.id, s FROM case_file e, cityops_squeeze(e.address) AS s
            WHERE cityops_grams(e.address) @> $1 AND s LIKE cityops_squeeze($2)
              AND e.units @> ARRAY[cityops_scope_unit()]
              AND (cityops_scope_department() IS NULL OR e.departments @> ARRAY[cityops_scope_department()])
              AND e.id < (SELECT min(n.id) FROM (SELECT n.id FROM case_file n ORDER BY n.id DESC LIMIT $3) AS n)
            LIMIT $4' USING rare, pattern, budget, candidates - found;
            END IF;
            RETURN;
        END IF;
        -- A rarer word: its holders from the grams index, planned at each call with the pairs known
        -- (EXECUTE), so the index is chosen for rare and common pairs alike.
        RETURN QUERY EXECUTE '
            SELECT e.id, s FROM case_file e, cityops_squeeze(e.address) AS s
            WHERE cityops_grams(e.address) @> $1 AND s LIKE cityops_squeeze($2)
              AND e.units @> ARRAY[cityops_scope_unit()]
              AND (cityops_scope_department() IS NULL OR e.departments @> ARRAY[cityops_scope_department()])
            LIMIT $3' USING rare, pattern, candidates;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_cases_by_address(text,text,integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_cases_by_address(text,text,integer) TO cityops_api;
