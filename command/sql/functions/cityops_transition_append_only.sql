CREATE OR REPLACE FUNCTION public.cityops_transition_append_only()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
        RAISE EXCEPTION 'case_transition is append-only (% refused)', TG_OP;
    END $function$;
