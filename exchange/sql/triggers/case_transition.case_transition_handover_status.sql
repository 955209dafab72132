CREATE TRIGGER case_transition_handover_status AFTER INSERT ON public.case_transition REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_handover_status();
