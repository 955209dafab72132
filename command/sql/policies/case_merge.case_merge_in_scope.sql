CREATE POLICY case_merge_in_scope ON public.case_merge AS PERMISSIVE FOR ALL TO cityops_api
    USING (((EXISTS ( SELECT
   FROM event e
  WHERE (e.id = case_merge.to_event_id))) OR (EXISTS ( SELECT
   FROM event e
  WHERE (e.id = case_merge.from_event_id)))))
    WITH CHECK (true);
