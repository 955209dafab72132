CREATE POLICY force_position_in_scope ON public.force_position AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT
   FROM force f
  WHERE (f.id = force_position.force_id))));
