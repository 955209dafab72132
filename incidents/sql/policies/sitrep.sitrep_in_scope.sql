CREATE POLICY sitrep_in_scope ON public.sitrep AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT 1
   FROM incident i
  WHERE (i.id = sitrep.incident_id))));

