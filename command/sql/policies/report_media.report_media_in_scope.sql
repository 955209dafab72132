CREATE POLICY report_media_in_scope ON public.report_media AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT
   FROM report r
  WHERE (r.id = report_media.report_id))));
