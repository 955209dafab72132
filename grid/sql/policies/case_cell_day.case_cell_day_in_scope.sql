CREATE POLICY case_cell_day_in_scope ON public.case_cell_day AS PERMISSIVE FOR SELECT TO cityops_api
    USING (((area @> ARRAY[cityops_scope_unit()]) AND (cityops_scope_department() IS NULL)));
