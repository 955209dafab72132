CREATE POLICY incident_area_in_scope ON public.incident_area AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT 1
   FROM incident i
  WHERE (i.id = incident_area.incident_id))));

