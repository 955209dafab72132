CREATE OR REPLACE FUNCTION public.cityops_capability_share(caps text[])
 RETURNS double precision
 LANGUAGE sql
 STABLE
AS $function$
        SELECT coalesce(min(coalesce(s.most_common_elem_freqs[array_position(s.most_common_elems::text::text[], c)],
                                     0)), 1)
        FROM unnest(caps) AS c
        LEFT JOIN pg_stats s
            ON s.schemaname = 'public' AND s.tablename = 'force_position' AND s.attname = 'capabilities'
    $function$;
