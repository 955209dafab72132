CREATE TRIGGER force_checks BEFORE INSERT OR UPDATE OF capabilities, unit_id ON public.force FOR EACH ROW EXECUTE FUNCTION cityops_force_checks();
