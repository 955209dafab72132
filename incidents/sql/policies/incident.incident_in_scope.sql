CREATE POLICY incident_in_scope ON public.incident AS PERMISSIVE FOR ALL TO cityops_api
    USING (
CASE
    WHEN (cityops_scope_department() IS NULL) THEN (units @> ARRAY[cityops_scope_unit()])
    ELSE (departments @> ARRAY[cityops_scope_department()])
END)
    WITH CHECK (((units @> ARRAY[cityops_scope_unit()]) AND (cityops_scope_department() IS NULL)));

