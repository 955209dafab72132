CREATE OR REPLACE FUNCTION public.cityops_rate_report(report_token uuid, rating text, note text)
 RETURNS TABLE(report_id bigint, case_id bigint, state text, rated boolean, previous text)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        WITH target AS (
            SELECT r.id, r.case_id, r.satisfaction, e.state FROM report r JOIN case_file e ON e.id = r.case_id
            WHERE r.token = report_token FOR UPDATE OF r
        ), rated AS (
            UPDATE report r SET satisfaction = rating, rated_at = now(), rating_note = note
            FROM target t WHERE r.id = t.id AND t.satisfaction IS NULL AND t.state = 'closed'
            RETURNING r.id
        )
        SELECT t.id, t.case_id, t.state, EXISTS (SELECT FROM rated), t.satisfaction FROM target t
    $function$;
REVOKE ALL ON FUNCTION public.cityops_rate_report(uuid,text,text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_rate_report(uuid,text,text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION public.cityops_rate_report(uuid,text,text) TO cityops_api;
