CREATE POLICY case_transition_in_scope ON public.case_transition AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT
   FROM case_file e
  WHERE (e.id = case_transition.case_id))));
