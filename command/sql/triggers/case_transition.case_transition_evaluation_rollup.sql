CREATE TRIGGER case_transition_evaluation_rollup AFTER INSERT ON public.case_transition REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cityops_evaluation_rollup_follow();
