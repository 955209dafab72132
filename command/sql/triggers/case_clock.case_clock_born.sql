CREATE TRIGGER case_clock_born BEFORE INSERT ON public.case_clock FOR EACH ROW EXECUTE FUNCTION cityops_clock_born();
