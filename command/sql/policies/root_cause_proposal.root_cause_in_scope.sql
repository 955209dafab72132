CREATE POLICY root_cause_in_scope ON public.root_cause_proposal AS PERMISSIVE FOR ALL TO cityops_api
    USING (((units @> ARRAY[cityops_scope_unit()]) AND (cityops_scope_department() IS NULL)))
    WITH CHECK (((units @> ARRAY[cityops_scope_unit()]) AND (cityops_scope_department() IS NULL)));
