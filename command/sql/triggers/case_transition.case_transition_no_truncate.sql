CREATE TRIGGER case_transition_no_truncate BEFORE TRUNCATE ON public.case_transition FOR EACH STATEMENT EXECUTE FUNCTION cityops_transition_append_only();
