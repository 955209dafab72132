CREATE POLICY case_clock_in_scope ON public.case_clock AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT
   FROM case_file e
  WHERE (e.id = case_clock.case_id))));
