CREATE TRIGGER assignment_change_event AFTER INSERT OR UPDATE OF released_at, accepted_at, arrived_at ON public.assignment FOR EACH ROW EXECUTE FUNCTION cityops_change_from_assignment();
