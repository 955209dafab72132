CREATE OR REPLACE FUNCTION public.cityops_count_joined(case_id bigint)
 RETURNS TABLE(id bigint, state text, report_count integer, deadline timestamp with time zone, departments text[], responsible_unit_id bigint)
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
        UPDATE case_file SET report_count = report_count + 1, updated_at = now() WHERE case_file.id = case_id
        RETURNING case_file.id, case_file.state, case_file.report_count, case_file.deadline, case_file.departments,
                  case_file.responsible_unit_id
    $function$;
