CREATE TRIGGER force_transition BEFORE UPDATE OF status ON public.force FOR EACH ROW EXECUTE FUNCTION cityops_force_transition();
