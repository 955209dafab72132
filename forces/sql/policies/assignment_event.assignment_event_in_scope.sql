CREATE POLICY assignment_event_in_scope ON public.assignment_event AS PERMISSIVE FOR ALL TO cityops_api
    USING (((EXISTS ( SELECT
   FROM force f
  WHERE (f.id = assignment_event.force_id))) OR (EXISTS ( SELECT
   FROM case_file e
  WHERE (e.id = assignment_event.case_id)))));
