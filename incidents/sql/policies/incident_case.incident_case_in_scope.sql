CREATE POLICY incident_case_in_scope ON public.incident_case AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT 1
   FROM incident i
  WHERE (i.id = incident_case.incident_id))));

