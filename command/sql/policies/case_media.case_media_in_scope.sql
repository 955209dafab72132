CREATE POLICY case_media_in_scope ON public.case_media AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT
   FROM event e
  WHERE (e.id = case_media.event_id))));
