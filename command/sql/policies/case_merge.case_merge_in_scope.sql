CREATE POLICY case_merge_in_scope ON public.case_merge AS PERMISSIVE FOR ALL TO cityops_api
    USING (((EXISTS ( SELECT
   FROM case_file e
  WHERE (e.id = case_merge.to_case_id))) OR (EXISTS ( SELECT
   FROM case_file e
  WHERE (e.id = case_merge.from_case_id)))))
    WITH CHECK (true);
