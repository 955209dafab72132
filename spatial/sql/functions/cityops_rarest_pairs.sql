CREATE OR REPLACE FUNCTION public.cityops_rarest_pairs(q text, grams_index text, keep integer)
 RETURNS TABLE(pair text, share double precision)
 LANGUAGE plpgsql
 STABLE
AS $function$
    DECLARE
        pairs text[];
        shares real[];
    BEGIN
        -- q's ``keep`` pairs (its character when it is one) held by the fewest rows of a grams index,
        -- rarest first, with the share of rows holding each: 0 for a pair not among the index's most
        -- common ones, and for every pair before the first ANALYZE. The statistics are read into
        -- variables once: as a joined subquery the array was converted once per pair (~1.5 ms).
        SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs INTO pairs, shares FROM pg_stats s
        WHERE s.schemaname = 'public' AND s.tablename = grams_index;
        RETURN QUERY SELECT g, coalesce(shares[array_position(pairs, g)], 0)::double precision
                     FROM unnest(cityops_query_grams(q)) AS g ORDER BY 2, 1 LIMIT keep;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_rarest_pairs(text,text,integer) FROM PUBLIC;
