CREATE OR REPLACE FUNCTION public.cityops_transition_chain()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    DECLARE
        last_seq integer;
        last_hash char(64);
    BEGIN
        SELECT c.seq, c.hash INTO last_seq, last_hash FROM case_transition c WHERE c.case_id = NEW.case_id
        ORDER BY c.seq DESC LIMIT 1;
        NEW.seq := coalesce(last_seq, 0) + 1;
        NEW.prev_hash := coalesce(last_hash, repeat('0', 64));
        NEW.at := now();
        NEW.hash := cityops_transition_hash(NEW);
        RETURN NEW;
    END $function$;
