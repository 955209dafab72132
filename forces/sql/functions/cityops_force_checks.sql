CREATE OR REPLACE FUNCTION public.cityops_force_checks()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    DECLARE
        unknown text[];
    BEGIN
        SELECT array_agg(c ORDER BY c) INTO unknown FROM unnest(NEW.capabilities) AS c
        WHERE NOT EXISTS (SELECT FROM capability k WHERE k.code = c);
        IF unknown IS NOT NULL THEN
            RAISE EXCEPTION 'unknown capabilities %', unknown USING ERRCODE = 'foreign_key_violation',
                HINT = 'capabilities are rows of table capability';
        END IF;
        IF TG_OP = 'INSERT' OR NEW.unit_id IS DISTINCT FROM OLD.unit_id THEN
            NEW.units := (SELECT u.ancestors || u.id FROM unit u WHERE u.id = NEW.unit_id);
        END IF;
        RETURN NEW;
    END $function$;
