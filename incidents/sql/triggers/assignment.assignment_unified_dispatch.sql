CREATE TRIGGER assignment_unified_dispatch BEFORE INSERT ON public.assignment FOR EACH ROW EXECUTE FUNCTION cityops_incident_unified_dispatch();
