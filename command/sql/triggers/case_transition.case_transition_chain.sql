CREATE TRIGGER case_transition_chain BEFORE INSERT ON public.case_transition FOR EACH ROW EXECUTE FUNCTION cityops_transition_chain();
