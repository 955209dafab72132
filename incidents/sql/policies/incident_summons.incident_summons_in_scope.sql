CREATE POLICY incident_summons_in_scope ON public.incident_summons AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT 1
   FROM incident i
  WHERE (i.id = incident_summons.incident_id))));

