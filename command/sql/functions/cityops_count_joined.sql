CREATE OR REPLACE FUNCTION public.cityops_count_joined(case_id bigint)
 RETURNS TABLE(id bigint, state text, report_count integer, deadline timestamp with time zone, departments text[], responsible_unit_id bigint)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        UPDATE event SET report_count = report_count + 1, updated_at = now() WHERE event.id = case_id
        RETURNING event.id, event.state, event.report_count, event.deadline, event.departments,
                  event.responsible_unit_id
    $function$;
