CREATE POLICY case_file_in_scope ON public.case_file AS PERMISSIVE FOR ALL TO cityops_api
    USING (((units @> ARRAY[cityops_scope_unit()]) AND ((cityops_scope_department() IS NULL) OR (departments @> ARRAY[cityops_scope_department()]))));
