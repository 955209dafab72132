CREATE POLICY force_request_in_scope ON public.force_request AS PERMISSIVE FOR ALL TO cityops_api
    USING (((EXISTS ( SELECT
   FROM force f
  WHERE (f.id = force_request.force_id))) OR (EXISTS ( SELECT
   FROM case_file e
  WHERE (e.id = force_request.case_id)))));
