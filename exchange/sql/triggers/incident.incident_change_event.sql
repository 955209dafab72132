CREATE TRIGGER incident_change_event AFTER INSERT OR UPDATE OF state, level, units, version ON public.incident FOR EACH ROW EXECUTE FUNCTION cityops_change_from_incident();
