CREATE TRIGGER case_units BEFORE INSERT ON public.case_file FOR EACH ROW WHEN ((new.units IS NULL)) EXECUTE FUNCTION cityops_case_units();
