CREATE OR REPLACE FUNCTION public.cityops_query_grams(q text)
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
    -- what a row must hold to contain q: its pairs (its one character when q is one character)
    SELECT CASE WHEN char_length(squeezed) = 1 THEN ARRAY[squeezed]
                ELSE (SELECT coalesce(array_agg(DISTINCT substr(squeezed, i, 2)), '{}')
                      FROM generate_series(1, char_length(squeezed) - 1) AS i) END
    FROM public.cityops_squeeze(q) AS squeezed
$function$;
