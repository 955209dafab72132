CREATE POLICY resource_message_in_scope ON public.resource_message AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT 1
   FROM resource_request p
  WHERE (p.id = resource_message.request_id))));

