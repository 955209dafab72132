CREATE TRIGGER case_state_to_clock AFTER UPDATE OF state ON public.case_file FOR EACH ROW WHEN ((old.state IS DISTINCT FROM new.state)) EXECUTE FUNCTION cityops_clock_follows_state();
