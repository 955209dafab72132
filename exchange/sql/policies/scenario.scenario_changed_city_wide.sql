CREATE POLICY scenario_changed_city_wide ON public.scenario AS PERMISSIVE FOR UPDATE TO cityops_api
    USING (((cityops_scope_department() IS NULL) AND (EXISTS ( SELECT
   FROM unit u
  WHERE ((u.id = cityops_scope_unit()) AND (u.parent_id IS NULL))))))
    WITH CHECK (((cityops_scope_department() IS NULL) AND (EXISTS ( SELECT
   FROM unit u
  WHERE ((u.id = cityops_scope_unit()) AND (u.parent_id IS NULL))))));
