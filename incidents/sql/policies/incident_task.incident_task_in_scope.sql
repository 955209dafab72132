CREATE POLICY incident_task_in_scope ON public.incident_task AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT 1
   FROM incident i
  WHERE (i.id = incident_task.incident_id))));

