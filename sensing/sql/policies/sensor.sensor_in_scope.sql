CREATE POLICY sensor_in_scope ON public.sensor AS PERMISSIVE FOR ALL TO cityops_api
    USING (((units @> ARRAY[cityops_scope_unit()]) AND ((cityops_scope_department() IS NULL) OR (department = cityops_scope_department()))));
