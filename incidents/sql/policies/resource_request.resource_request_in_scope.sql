CREATE POLICY resource_request_in_scope ON public.resource_request AS PERMISSIVE FOR ALL TO cityops_api
    USING (((EXISTS ( SELECT 1
   FROM incident i
  WHERE (i.id = resource_request.incident_id))) OR ((to_units @> ARRAY[cityops_scope_unit()]) AND (cityops_scope_department() IS NULL))));

