CREATE POLICY force_fix_in_scope ON public.force_fix AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT
   FROM force f
  WHERE (f.id = force_fix.force_id))));
