CREATE TRIGGER force_status_announce AFTER UPDATE OF status ON public.force FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION cityops_force_status_announce();
