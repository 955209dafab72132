CREATE POLICY scenario_public ON public.scenario AS PERMISSIVE FOR SELECT TO cityops_api
    USING (true);
