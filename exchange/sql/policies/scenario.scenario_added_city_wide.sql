CREATE POLICY scenario_added_city_wide ON public.scenario AS PERMISSIVE FOR INSERT TO cityops_api
    WITH CHECK (((cityops_scope_department() IS NULL) AND (EXISTS ( SELECT
   FROM unit u
  WHERE ((u.id = cityops_scope_unit()) AND (u.parent_id IS NULL))))));
