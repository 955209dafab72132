CREATE TRIGGER case_transition_append_only BEFORE DELETE OR UPDATE ON public.case_transition FOR EACH ROW EXECUTE FUNCTION cityops_transition_append_only();
