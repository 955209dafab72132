CREATE OR REPLACE FUNCTION public.cityops_audit(actor text, action text, subject text, detail jsonb)
 RETURNS bigint
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        INSERT INTO audit_log (actor, action, subject, detail) VALUES (actor, action, subject, coalesce(detail, '{}'))
        RETURNING id
    $function$;
