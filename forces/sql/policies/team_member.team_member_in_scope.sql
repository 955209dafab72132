CREATE POLICY team_member_in_scope ON public.team_member AS PERMISSIVE FOR ALL TO cityops_api
    USING ((EXISTS ( SELECT
   FROM force f
  WHERE (f.id = team_member.team_id))));
