CREATE POLICY sensor_alarm_in_scope ON public.sensor_alarm AS PERMISSIVE FOR ALL TO cityops_api
    USING (((units @> ARRAY[cityops_scope_unit()]) AND (cityops_scope_department() IS NULL)));
