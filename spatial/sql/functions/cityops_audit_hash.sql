CREATE OR REPLACE FUNCTION public.cityops_audit_hash(prev character, at timestamp with time zone, actor text, action text, subject text, detail jsonb)
 RETURNS character
 LANGUAGE sql
 IMMUTABLE
AS $function$
        SELECT encode(sha256(convert_to(concat_ws(E'\x1f', prev,
            to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), actor, action, coalesce(subject, ''),
            detail::text), 'UTF8')), 'hex')
    $function$;
