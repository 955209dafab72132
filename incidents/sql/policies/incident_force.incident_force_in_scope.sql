CREATE POLICY incident_force_in_scope ON public.incident_force AS PERMISSIVE FOR ALL TO cityops_api
    USING (((EXISTS ( SELECT 1
   FROM incident i
  WHERE (i.id = incident_force.incident_id))) OR (EXISTS ( SELECT 1
   FROM resource_request r
  WHERE ((r.incident_id = incident_force.incident_id) AND (r.force_ids @> ARRAY[incident_force.force_id]))))));

