CREATE OR REPLACE FUNCTION public.cityops_grams(t text)
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE STRICT
AS $function$
    -- every character and every pair of neighbouring characters, lower-cased, once each; spaces
    -- ignored (「玄武区梅园」 finds 「玄武区 梅园新村街道」). STRICT: no address, no grams, and no call — an
    -- import of cases without addresses evaluated this body ~9 µs a row for the grams index, for nothing
    SELECT coalesce(array_agg(DISTINCT substr(squeezed, i, n)), '{}')
    FROM public.cityops_squeeze(t) AS squeezed, generate_series(1, char_length(squeezed)) AS i,
         (VALUES (1), (2)) AS size(n)
    WHERE i + n - 1 <= char_length(squeezed)
$function$;
