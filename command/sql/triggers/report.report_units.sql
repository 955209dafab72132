CREATE TRIGGER report_units BEFORE INSERT ON public.report FOR EACH ROW WHEN ((new.units IS NULL)) EXECUTE FUNCTION cityops_report_units();
