CREATE OR REPLACE FUNCTION public.cityops_publication_frozen()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        RAISE EXCEPTION '% is append-only: a published month stays as published (% refused)', TG_TABLE_NAME, TG_OP;
    END $function$;
