CREATE POLICY case_media_in_scope ON public.case_media AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT
   FROM case_file e
  WHERE (e.id = case_media.case_id))));
