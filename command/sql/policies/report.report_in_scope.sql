CREATE POLICY report_in_scope ON public.report AS PERMISSIVE FOR ALL TO cityops_api
    USING ((((units @> ARRAY[cityops_scope_unit()]) AND (cityops_scope_department() IS NULL)) OR (EXISTS ( SELECT
   FROM case_file e
  WHERE (e.id = report.case_id)))))
    WITH CHECK ((units @> ARRAY[cityops_scope_unit()]));
