CREATE POLICY inbound_warning_in_scope ON public.inbound_warning AS PERMISSIVE FOR ALL TO cityops_api
    USING ((units @> ARRAY[cityops_scope_unit()]));
