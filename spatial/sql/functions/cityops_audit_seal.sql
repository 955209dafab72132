CREATE OR REPLACE FUNCTION public.cityops_audit_seal()
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    DECLARE
        prev char(64);
        position bigint;
        entry record;
        sealed integer := 0;
    BEGIN
        IF NOT pg_try_advisory_xact_lock(hashtext('cityops:audit')) THEN
            RETURN 0;  -- another sealer is at it
        END IF;
        SELECT a.hash, a.seq INTO prev, position FROM audit_log a WHERE a.seq IS NOT NULL ORDER BY a.seq DESC LIMIT 1;
        prev := coalesce(prev, repeat('0', 64));
        position := coalesce(position, 0);
        FOR entry IN SELECT * FROM audit_log a WHERE a.seq IS NULL ORDER BY a.id FOR UPDATE LOOP
            position := position + 1;
            UPDATE audit_log SET seq = position, prev_hash = prev,
                   hash = cityops_audit_hash(prev, entry.at, entry.actor, entry.action, entry.subject, entry.detail)
            WHERE id = entry.id RETURNING hash INTO prev;
            sealed := sealed + 1;
        END LOOP;
        RETURN sealed;
    END $function$;
REVOKE ALL ON FUNCTION public.cityops_audit_seal() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_audit_seal() TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_audit_seal() TO cityops_api;
