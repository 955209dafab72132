CREATE POLICY cap_alert_in_scope ON public.cap_alert AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT 1
   FROM incident i
  WHERE (i.id = cap_alert.incident_id))));

