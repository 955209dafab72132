CREATE TRIGGER case_transition_change_event AFTER INSERT ON public.case_transition REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_change_from_transitions();
