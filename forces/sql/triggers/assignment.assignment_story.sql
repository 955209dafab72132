CREATE TRIGGER assignment_story AFTER INSERT OR UPDATE ON public.assignment FOR EACH ROW EXECUTE FUNCTION cityops_assignment_story();
