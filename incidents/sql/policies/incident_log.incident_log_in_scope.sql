CREATE POLICY incident_log_in_scope ON public.incident_log AS PERMISSIVE FOR ALL TO cityops_api
    USING (((EXISTS ( SELECT 1
   FROM incident i
  WHERE (i.id = incident_log.incident_id))) OR (EXISTS ( SELECT 1
   FROM resource_request r
  WHERE ((r.incident_id = incident_log.incident_id) AND ((r.id)::text = (incident_log.detail ->> 'request_id'::text)))))));

