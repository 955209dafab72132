CREATE POLICY assignment_in_scope ON public.assignment AS PERMISSIVE FOR ALL TO cityops_api
    USING (((EXISTS ( SELECT
   FROM force f
  WHERE (f.id = assignment.force_id))) OR (EXISTS ( SELECT
   FROM case_file e
  WHERE (e.id = assignment.case_id)))));
