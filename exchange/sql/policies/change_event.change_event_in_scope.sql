CREATE POLICY change_event_in_scope ON public.change_event AS PERMISSIVE FOR SELECT TO cityops_api
    USING (((units @> ARRAY[cityops_scope_unit()]) AND ((cityops_scope_department() IS NULL) OR (departments @> ARRAY[cityops_scope_department()]))));
