CREATE POLICY incident_task_update_in_scope ON public.incident_task_update AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT 1
   FROM incident_task p
  WHERE (p.id = incident_task_update.task_id))));

